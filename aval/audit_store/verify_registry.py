"""What verification checks of the registries besides the decisions: every row of the AI
registry (`ai_systems`, `model_versions`), its four-eyes requests (`pin_requests`), its stops
(`ai_stops`) and the reviewer registry (`reviewer_qualifications`) against the state the
tenant's `admin.*` events imply; and each decision's stored `input` against the hash its
`decision.proposed` recorded (I3). See docs/trail_facts.md for which column comes from which
event, and which columns are operational.

Administrators' acts are few (a handful per AI system or reviewer, against millions of
decision events): they are read from their hashed bytes and replayed in Python. The inputs are
many: they are read in batches through a server-side cursor, beside the one value of their
proposal's bytes that they are compared with, and hashed here with the service's canonical
JSON (`aval.verifier.chain.canonical_json`), as `proposals.py` hashed them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store.registry import CONFIGURATION
from aval.verifier.chain import canonical_json, parse_json
from aval.verifier.chain_verifier import Problem

REGISTRY_MISMATCH = "registry_projection_mismatch"
"""A registry row whose columns differ from the trail, or a row without its event (or the
reverse)."""

"""A decision's stored input that no longer hashes to its proposal's `input_sha256`: the same
kind as any other column of `decisions` that differs from the trail, naming `input`."""

REGISTRY_KINDS = (
    "admin.ai_system_registered",
    "admin.ai_system_change_requested",
    "admin.ai_system_change_approved",
    "admin.ai_system_change_refused",
    "admin.model_version_registered",
    "admin.shadow_set",
    "admin.pin_requested",
    "admin.pin_approved",
    "admin.pin_refused",
    "admin.ai_stopped",
    "admin.ai_resumed",
    "admin.reviewer_qualified",
    "admin.reviewer_qualification_revoked",
)


class _Unknown:
    """A value the trail does not say: recorded by an older event that did not hold it."""

    def __repr__(self) -> str:
        return "unknown"


UNKNOWN: Any = _Unknown()

# Per table: its key columns, and the columns derived from the trail and compared (in the
# order they are named). Every other column is operational (docs/trail_facts.md).
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ai_systems": (
        ("name",),
        (*CONFIGURATION, "pinned_version", "shadow_version", "created_at", "updated_at"),
    ),
    "model_versions": (
        ("ai_system", "version"),
        (
            "intended_purpose",
            "known_limits",
            "accuracy_note",
            "metrics",
            "registered_by",
            "registered_at",
        ),
    ),
    "pin_requests": (
        ("id",),
        (
            "ai_system",
            "version",
            "configuration",
            "previous_version",
            "reason",
            "requested_by",
            "requested_at",
            "state",
            "decided_by",
            "decided_at",
            "decision_reason",
        ),
    ),
    "ai_stops": (("scope", "target"), ("reason", "stopped_by", "stopped_at")),
    "reviewer_qualifications": (
        ("id",),
        (
            "reviewer_id",
            "decision_type",
            "trained_on",
            "delegated_by",
            "valid_from",
            "valid_until",
            "granted_by",
            "granted_at",
            "reason",
            "renews",
            "superseded_at",
            "superseded_by",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        ),
    ),
}


Key = tuple[Any, ...]
Row = dict[str, Any]


@dataclass(frozen=True)
class _Act:
    """One administrator's act, as its hashed bytes say it."""

    seq: int
    kind: str
    actor: str
    at: datetime
    data: dict[str, Any]

    def get(self, name: str, convert: Callable[[Any], Any] | None = None) -> Any:
        """The value `name` of the event's data (converted unless null); UNKNOWN when absent."""
        if name not in self.data:
            return UNKNOWN
        value = self.data[name]
        return value if value is None or convert is None else convert(value)


@dataclass
class _Replay:
    """The registries' rows as the acts replayed so far imply them, and for each row the seq
    of the last act that touched it."""

    rows: dict[str, dict[Key, Row]] = field(default_factory=lambda: {t: {} for t in TABLES})
    seqs: dict[tuple[str, Key], int] = field(default_factory=dict)

    def put(self, table: str, key: Key, act: _Act, **values: Any) -> None:
        """Creates the row (every column unknown) if needed, and sets `values`."""
        row = self.rows[table].setdefault(key, dict.fromkeys(TABLES[table][1], UNKNOWN))
        row.update(values)
        self.seqs[(table, key)] = act.seq

    def update(self, table: str, key: Key, act: _Act, **values: Any) -> None:
        """Sets `values` of a row the trail recorded (nothing when it recorded none: the row
        is then named as missing from the trail, if the table holds it)."""
        if key in self.rows[table]:
            self.put(table, key, act, **values)


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(str(value))


def _system_registered(replay: _Replay, act: _Act) -> None:
    key = (act.data.get("ai_system"),)
    configuration = act.get("configuration")
    values: dict[str, Any] = {"updated_at": act.at}
    if isinstance(configuration, dict):
        values |= {name: configuration.get(name, UNKNOWN) for name in CONFIGURATION}
    else:
        # The demo's set-up, before this version, said only the endpoint, and wrote its rows a
        # moment before its events: neither the rest nor the times can be proved.
        values |= dict.fromkeys(CONFIGURATION, UNKNOWN)
        values["updated_at"] = UNKNOWN
        if "endpoint" in act.data:
            values["endpoint"] = act.data["endpoint"]
    if "pinned_version" in act.data:  # the demo's set-up pins without a request
        values["pinned_version"] = act.data["pinned_version"]
    created = act.get("created")
    if created is True or (created is UNKNOWN and key not in replay.rows["ai_systems"]):
        values = {"pinned_version": None, "shadow_version": None, **values}
        values["created_at"] = values["updated_at"]
        replay.put("ai_systems", key, act, **values)
    else:
        replay.update("ai_systems", key, act, **values)
    _supersede(replay, act, "superseded by a direct change")


def _supersede(replay: _Replay, act: _Act, reason: str) -> None:
    for request in act.data.get("superseded") or ():
        replay.update(
            "pin_requests",
            (_uuid(request),),
            act,
            state="SUPERSEDED",
            decided_by=act.actor,
            decided_at=act.at,
            decision_reason=reason,
        )


def _requested(replay: _Replay, act: _Act) -> None:
    change = act.kind == "admin.ai_system_change_requested"
    request = act.data.get("change_request_id" if change else "pin_request_id")
    replay.put(
        "pin_requests",
        (_uuid(request),),
        act,
        ai_system=act.get("ai_system"),
        version=None if change else act.get("version"),
        configuration=act.get("changes") if change else None,
        previous_version=act.get("pinned_version" if change else "previous_version"),
        reason=act.get("reason"),
        requested_by=act.actor,
        requested_at=act.at,
        state="PENDING",
        decided_by=None,
        decided_at=None,
        decision_reason="",
    )


def _decided(replay: _Replay, act: _Act) -> None:
    change = act.kind.startswith("admin.ai_system_change_")
    request = _uuid(act.data.get("change_request_id" if change else "pin_request_id"))
    approved = act.kind.endswith("_approved")
    replay.update(
        "pin_requests",
        (request,),
        act,
        state="APPROVED" if approved else "REFUSED",
        decided_by=act.actor,
        decided_at=act.at,
        decision_reason=act.get("reason"),
    )
    if not approved:
        return
    _supersede(replay, act, f"superseded by {request}")
    system = (act.data.get("ai_system"),)
    if change:
        configuration = act.get("configuration")
        if not isinstance(configuration, dict):
            configuration = {}
        values = {n: configuration.get(n, UNKNOWN) for n in CONFIGURATION}
        replay.update("ai_systems", system, act, updated_at=act.at, **values)
        return
    values = {"pinned_version": act.get("version"), "updated_at": act.at}
    stopped = act.get("shadow_stopped")
    if stopped is True:
        values["shadow_version"] = None
    elif stopped is UNKNOWN:
        values["shadow_version"] = UNKNOWN
    replay.update("ai_systems", system, act, **values)


def _version_registered(replay: _Replay, act: _Act) -> None:
    key = (act.data.get("ai_system"), act.data.get("version"))
    replay.put(
        "model_versions",
        key,
        act,
        intended_purpose=act.get("intended_purpose"),
        known_limits=act.get("known_limits", list),
        accuracy_note=act.get("accuracy_note"),
        metrics=act.get("metrics"),
        registered_by=act.actor,
        # the demo's set-up, before this version, recorded the version alone, and a moment
        # after its row
        registered_at=act.at if "intended_purpose" in act.data else UNKNOWN,
    )


def _shadow_set(replay: _Replay, act: _Act) -> None:
    key = (act.data.get("ai_system"),)
    replay.update("ai_systems", key, act, shadow_version=act.get("version"), updated_at=act.at)


def _stopped(replay: _Replay, act: _Act) -> None:
    key = (act.data.get("scope"), act.data.get("target"))
    replay.put(
        "ai_stops", key, act, reason=act.get("reason"), stopped_by=act.actor, stopped_at=act.at
    )


def _resumed(replay: _Replay, act: _Act) -> None:
    key = (act.data.get("scope"), act.data.get("target"))
    replay.rows["ai_stops"].pop(key, None)
    replay.seqs[("ai_stops", key)] = act.seq


def _qualified(replay: _Replay, act: _Act) -> None:
    key = (_uuid(act.data.get("qualification_id")),)
    renews = act.get("renews", _uuid)
    replay.put(
        "reviewer_qualifications",
        key,
        act,
        reviewer_id=act.get("reviewer_id"),
        decision_type=act.get("decision_type"),
        trained_on=act.get("trained_on", date.fromisoformat),
        delegated_by=act.get("delegated_by"),
        valid_from=act.get("valid_from", date.fromisoformat),
        valid_until=act.get("valid_until", date.fromisoformat),
        granted_by=act.actor,
        granted_at=act.at,
        reason=act.get("reason"),
        renews=renews,
        superseded_at=None,
        superseded_by=None,
        revoked_at=None,
        revoked_by=None,
        revoke_reason=None,
    )
    if isinstance(renews, uuid.UUID):
        replay.update(
            "reviewer_qualifications", (renews,), act, superseded_at=act.at, superseded_by=key[0]
        )


def _revoked(replay: _Replay, act: _Act) -> None:
    key = (_uuid(act.data.get("qualification_id")),)
    replay.update(
        "reviewer_qualifications",
        key,
        act,
        revoked_at=act.at,
        revoked_by=act.actor,
        revoke_reason=act.get("reason"),
    )


_REPLAY: dict[str, Callable[[_Replay, _Act], None]] = {
    "admin.ai_system_registered": _system_registered,
    "admin.ai_system_change_requested": _requested,
    "admin.ai_system_change_approved": _decided,
    "admin.ai_system_change_refused": _decided,
    "admin.model_version_registered": _version_registered,
    "admin.shadow_set": _shadow_set,
    "admin.pin_requested": _requested,
    "admin.pin_approved": _decided,
    "admin.pin_refused": _decided,
    "admin.ai_stopped": _stopped,
    "admin.ai_resumed": _resumed,
    "admin.reviewer_qualified": _qualified,
    "admin.reviewer_qualification_revoked": _revoked,
}
assert set(_REPLAY) == set(REGISTRY_KINDS)


def _act(seq: int, canonical: bytes) -> _Act | None:
    """The act of an event's bytes; None when they are not an act this code can read (the
    chain check names bytes that are not JSON, or that differ from the columns beside them)."""
    try:
        event = parse_json(canonical)
        return _Act(
            seq,
            event["kind"],
            event["actor"]["id"],
            datetime.fromisoformat(event["occurred_at"]),
            event["data"],
        )
    except (ValueError, KeyError, TypeError):
        return None


async def _replayed(conn: AsyncConnection[Any], tenant_id: str) -> _Replay:
    replay = _Replay()
    # `kind` copies the bytes' kind (the chain check compares them), and is indexed.
    cur = await conn.execute(
        "SELECT seq, canonical FROM audit_events WHERE tenant_id = %s AND kind = ANY(%s)"
        " ORDER BY seq",
        (tenant_id, list(REGISTRY_KINDS)),
    )
    for seq, canonical in await cur.fetchall():
        act = _act(seq, bytes(canonical))
        if act is None or act.kind not in _REPLAY:
            continue
        try:
            _REPLAY[act.kind](replay, act)
        except (ValueError, TypeError, AttributeError, LookupError):
            continue  # data of an unexpected shape: the table's row is named as differing
    return replay


def _stored_value(table: str, column: str, value: Any) -> Any:
    if column == "known_limits" and value is not None:
        return list(value)
    return value


async def _stored(conn: AsyncConnection[Any], tenant_id: str, table: str) -> dict[Key, Row]:
    keys, columns = TABLES[table]
    cur = await conn.execute(
        f"SELECT {', '.join(keys + columns)} FROM {table} WHERE tenant_id = %s",
        (tenant_id,),
    )
    rows: dict[Key, Row] = {}
    for row in await cur.fetchall():
        values = dict(zip(keys + columns, row, strict=True))
        key = tuple(values.pop(k) for k in keys)
        rows[key] = {c: _stored_value(table, c, v) for c, v in values.items()}
    return rows


def _same(stored: Any, trailed: Any) -> bool:
    if trailed is UNKNOWN:
        return True
    if isinstance(stored, (dict, list)) or isinstance(trailed, (dict, list)):
        # JSON values: compared as JSON, whatever the spelling of their numbers
        return bool(json.loads(json.dumps(stored)) == json.loads(json.dumps(trailed)))
    return bool(stored == trailed)


def _name(table: str, key: Key) -> str:
    keys = TABLES[table][0]
    return f"{table}[" + ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True)) + "]"


async def registry_problems(conn: AsyncConnection[Any], tenant_id: str) -> list[Problem]:
    """Every row of the tenant's registries that differs from what its `admin.*` events imply:
    one problem per differing column, per row no event recorded, per row the events recorded
    that the table does not hold. Run it in the verification's snapshot."""
    replay = await _replayed(conn, tenant_id)
    problems: list[Problem] = []

    def problem(table: str, key: Key, detail: str) -> None:
        seq = replay.seqs.get((table, key), 0)
        problems.append(
            Problem(REGISTRY_MISMATCH, tenant_id, seq, "", f"{_name(table, key)}: {detail}")
        )

    for table in TABLES:
        stored = await _stored(conn, tenant_id, table)
        trailed = replay.rows[table]
        for key in sorted(stored.keys() | trailed.keys(), key=str):
            if key not in trailed:
                problem(table, key, "no event of the trail records this row")
            elif key not in stored:
                problem(table, key, "the trail records this row; the table does not hold it")
            else:
                for column in TABLES[table][1]:
                    if not _same(stored[key][column], trailed[key][column]):
                        problem(table, key, f"{column} differs from the trail")
    return problems


# Each decision's input beside the input_sha256 its proposal's bytes hold. In canonical JSON
# the keys are sorted, so the first `"input_sha256":"` of a `decision.proposed` is its data's
# own (the keys before it in `data` hold no object that could contain one, and inside a
# string every quote is escaped): no need to parse the event. Most inputs are hashed by
# PostgreSQL within the facts check (`verify_facts._INPUT_SHA256`); these are the others.
_HASH_KEY = b'"input_sha256":"'
_INPUTS_SQL = """
SELECT d.id, d.input::text, convert_from(substring(e.canonical
        FROM position(%(key)s::bytea IN e.canonical) + %(skip)s FOR 64), 'UTF8')
FROM decisions d
JOIN audit_events e ON e.tenant_id = d.tenant_id AND e.decision_id = d.id
    AND e.kind = 'decision.proposed' AND position(%(key)s::bytea IN e.canonical) > 0
WHERE d.tenant_id = %(tenant)s AND (%(all)s OR d.id = ANY(%(ids)s::uuid[]))
"""
# Inputs are read this many at a time when all of a tenant's are hashed here.
INPUT_BATCH = 2_000


def _whole(text: str) -> int | float:
    """A JSON whole number as the service's request parser made it: an int below 2**53, else
    the float it was (PostgreSQL prints 1e+20 as 100000000000000000000)."""
    number = int(text)
    return number if abs(number) < 2**53 else float(text)


def input_sha256(stored_input: str) -> str:
    """The hash `proposals.py` computed of an input, from the input as stored (jsonb text)."""
    value = parse_json(stored_input, parse_int=_whole)
    return hashlib.sha256(canonical_json(value)).hexdigest()


async def inputs_differing(
    conn: AsyncConnection[Any], tenant_id: str, decisions: Sequence[str] | None
) -> set[str]:
    """Those of `decisions` (None: every decision of the tenant) whose stored input does not
    hash to the `input_sha256` of their `decision.proposed`, hashed by this process as
    `proposals.py` did. Every decision's are read in batches through a server-side cursor of
    the caller's transaction, so that a large tenant's inputs are never all in memory."""
    if decisions is not None and not decisions:
        return set()
    params = {
        "tenant": tenant_id,
        "key": _HASH_KEY,
        "skip": len(_HASH_KEY),
        "all": decisions is None,
        "ids": list(decisions or ()),
    }
    differing: set[str] = set()
    # Every row is read: plan for all of them, not for the first (a cursor's default).
    await conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    async with conn.cursor(name="verify_inputs") as cur:
        await cur.execute(_INPUTS_SQL, params)
        while rows := await cur.fetchmany(INPUT_BATCH):
            for decision, stored_input, trailed in rows:
                if stored_input is None or input_sha256(stored_input) != trailed:
                    differing.add(str(decision))
    return differing
