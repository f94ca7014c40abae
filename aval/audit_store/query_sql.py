"""An inspector's query over the trail and the SQL that reads it: filters, tokens, statements."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aval.audit_store import trail
from aval.audit_store.records import Verdict
from aval.verifier.events import AuditEvent

# Read by position, see record.
_COLUMNS = (
    "e.tenant_id, e.seq, e.event_id, e.occurred_at, e.decision_id, e.kind, e.actor_id, "
    "e.actor_type, e.trace_id, e.schema_version, e.canonical, e.prev_hash, e.hash"
)
_TOKEN_PREFIX = "ev1"
# Conditions on the event: (field of EventQuery, SQL on the event `e`).
_EVENT_FIELDS = (
    ("decision_id", "e.decision_id = %(decision_id)s"),
    ("kind", "e.kind = %(kind)s"),
    ("since", "e.occurred_at >= %(since)s"),
    ("until", "e.occurred_at < %(until)s"),
    ("reviewer", "e.actor_id = %(reviewer)s"),
)
# Conditions on the decision: (field, its value on the decision `d`, on its first event `p`).
# A decision's first event (decision.proposed) records its type and its suggestion.
_DECISION_FIELDS = (
    ("decision_type", "d.decision_type", "event_json(p.canonical)->'data'->>'decision_type'"),
    (
        "ai_system",
        "d.suggestion->'model'->>'name'",
        "event_json(p.canonical)->'data'->'suggestion'->'model'->>'name'",
    ),
    (
        "model_version",
        "d.suggestion->'model'->>'version'",
        "event_json(p.canonical)->'data'->'suggestion'->'model'->>'version'",
    ),
)
# The verdicts by which a human departs from the AI's suggestion.
DEPARTING = "r.verdict IN ('AMEND', 'REJECT')"
_DEPARTED = (
    "EXISTS (SELECT 1 FROM reviews r WHERE r.tenant_id = d.tenant_id AND r.decision_id = d.id "
    f"AND {DEPARTING})"
)


@dataclass(frozen=True)
class EventQuery:
    """What an inspector asks of the trail, across one or more tenants.

    Unset fields (None) do not filter. The filters on the decision (type, AI system, model
    version, overrode) select the events that name a decision matching them.

    Attributes:
        tenants: The tenants to read, already authorised.
        decision_id: Events of this decision.
        kind: Events of this kind, e.g. ``"review.recorded"``.
        since: Events that occurred at or after this time.
        until: Events that occurred before this time.
        decision_type: Events of decisions of this type.
        ai_system: Events of decisions whose suggestion came from this model name.
        model_version: Events of decisions whose suggestion came from this model version.
        reviewer: Events whose actor is this person (or program).
        verdict: ``review.recorded`` events that record this verdict.
        overrode: True: events of decisions that hold at least one AMEND or REJECT review, that
            is where a human departed from the AI's suggestion, whatever the decision's state
            (an AMENDED or REJECTED decision always holds one; a pending or expired one may).
            False: events of decisions that hold no such review (approved as suggested, not
            reviewed yet, or expired without a departing verdict). As the decisions are at the
            time of the query.
    """

    tenants: tuple[str, ...]
    decision_id: uuid.UUID | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    decision_type: str | None = None
    ai_system: str | None = None
    model_version: str | None = None
    reviewer: str | None = None
    verdict: Verdict | None = None
    overrode: bool | None = None

    @property
    def on_decisions(self) -> bool:
        """Whether the query filters on the events' decisions."""
        return bool(self.decision_type or self.ai_system or self.model_version) or (
            self.overrode is not None
        )


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the order of every query: by tenant, then by sequence number."""

    tenant_id: str
    seq: int


def encode_cursor(cursor: Cursor) -> str:
    """The opaque, URL-safe page token that resumes after `cursor`."""
    raw = f"{_TOKEN_PREFIX}:{cursor.seq}:{cursor.tenant_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """Reads a token made by `encode_cursor`.

    Raises:
        ValueError: The token was not made by `encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not an event page token") from exc
    prefix, _, rest = raw.partition(":")
    seq, _, tenant = rest.partition(":")
    if prefix != _TOKEN_PREFIX or not tenant or not seq.isdigit():
        raise ValueError("not an event page token")
    return Cursor(tenant, int(seq))


def _event_conditions(q: EventQuery, params: dict[str, Any]) -> list[str]:
    """Conditions on the event (alias ``e``), their parameters put in `params`."""
    clauses = []
    for name, clause in _EVENT_FIELDS:
        value = getattr(q, name)
        if value is not None and value != "":
            clauses.append(clause)
            params[name] = value
    if q.verdict is not None:
        # The kind is spelled out so that the partial index (migration 0011) applies.
        clauses.append(
            "e.kind = 'review.recorded'"
            " AND event_json(e.canonical)->'data'->>'verdict' = %(verdict)s"
        )
        params["verdict"] = q.verdict.value
    return clauses


def attribute_conditions(q: EventQuery, params: dict[str, Any], *, first_event: bool) -> list[str]:
    """Type, AI system and version, on the decision (``d``) or on its first event (``p``)."""
    clauses = []
    for name, on_decision, on_first_event in _DECISION_FIELDS:
        if getattr(q, name):
            clauses.append(f"({on_first_event if first_event else on_decision}) = %({name})s")
            params[name] = getattr(q, name)
    return clauses


def _decision_conditions(q: EventQuery, params: dict[str, Any]) -> list[str]:
    """Every condition on the decision (alias ``d``), `overrode` included."""
    clauses = attribute_conditions(q, params, first_event=False)
    if q.overrode is not None:
        clauses.append(_DEPARTED if q.overrode else f"NOT {_DEPARTED}")
    return clauses


def _select(where: Sequence[str], order: str, limit: bool) -> str:
    tail = " LIMIT %(limit)s" if limit else ""
    return (
        f"SELECT {_COLUMNS} FROM audit_events e WHERE {' AND '.join(where)} ORDER BY {order}{tail}"
    )


def page_sql(q: EventQuery, after: Cursor | None, limit: int) -> tuple[str, dict[str, Any]] | None:
    """The one statement of a page of a query with no time range and no decision condition.

    The tenant of the cursor and the tenants after it are read in two branches, each one
    ordered index range scan that stops as soon as the page is full. None: nothing to read.
    """
    params: dict[str, Any] = {"limit": limit}
    shared = _event_conditions(q, params)
    tenants = sorted(set(q.tenants))
    branches = []
    if after is not None and after.tenant_id in tenants:
        params["cursor_tenant"], params["cursor_seq"] = after.tenant_id, after.seq
        where = ["e.tenant_id = %(cursor_tenant)s", "e.seq > %(cursor_seq)s", *shared]
        branches.append(_select(where, "e.seq", limit=True))
    params["tenants"] = [t for t in tenants if after is None or t > after.tenant_id]
    if params["tenants"]:
        where = ["e.tenant_id = ANY(%(tenants)s::text[])", *shared]
        branches.append(_select(where, "e.tenant_id, e.seq", limit=True))
    if len(branches) < 2:
        return (branches[0], params) if branches else None
    union = " UNION ALL ".join(f"({b})" for b in branches)
    return f"SELECT * FROM ({union}) page ORDER BY 1, 2 LIMIT %(limit)s", params


def tenant_sql(q: EventQuery, *, few: bool, limit: bool) -> tuple[str, dict[str, Any]]:
    """The statement that reads one tenant's matching events in a range of sequence numbers.

    Parameters left to set: ``tenant``, ``after_seq``, ``through_seq`` (and ``limit``).

    Args:
        q: The query.
        few: Few decisions match: read their events (index by decision) and sort them, rather
            than read the tenant's events in order and look up each one's decision.
        limit: Whether the statement ends with ``LIMIT %(limit)s``.
    """
    params: dict[str, Any] = {}
    where = ["e.tenant_id = %(tenant)s", "e.seq > %(after_seq)s", "e.seq <= %(through_seq)s"]
    # Times only filter here: `queries._time_span` has turned them into sequence numbers, and
    # read through the time index a window of sequence numbers would cost the whole time range.
    where += [
        c.replace("e.occurred_at", "(e.occurred_at + interval '0 s')")
        for c in _event_conditions(q, params)
    ]
    decided = " AND ".join(_decision_conditions(q, params))
    if decided and few:
        where.append(
            f"e.decision_id IN (SELECT d.id FROM decisions d WHERE d.tenant_id = %(tenant)s "
            f"AND {decided})"
        )
    elif decided:
        # A scalar subquery, not EXISTS: PostgreSQL keeps it per row, so the scan stays in
        # sequence order and stops with the page, instead of joining every event first.
        where.append(
            "coalesce((SELECT true FROM decisions d WHERE d.tenant_id = e.tenant_id "
            f"AND d.id = e.decision_id AND {decided}), false)"
        )
    return _select(where, "e.seq", limit=limit), params


def record(row: Sequence[Any]) -> AuditEvent:
    """The event of a row selected with the columns of this module's statements."""
    canonical = bytes(row[10])
    # The body is what the hashed bytes say.
    fields = [*row[:10], trail.parsed_body(canonical), canonical, bytes(row[11]), bytes(row[12])]
    return AuditEvent(*fields)
