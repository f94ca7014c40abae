"""Events as the verifier reads them: as stored, and summed up for the chain (their digests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aval.verifier.chain import parse_json, utc_iso

# The kinds of a decision's events that say its state (`decision_state`) at the top level of
# their data: the life of a decision, which verification replays.
DECISION_EVENT_KINDS = (
    "decision.proposed",
    "decision.claimed",
    "decision.released",
    "review.recorded",
    "decision.finalized",
    "decision.expired",
)


@dataclass(frozen=True)
class AuditEvent:
    """One entry of a tenant's hash-chained trail, as stored."""

    tenant_id: str
    seq: int
    event_id: uuid.UUID
    occurred_at: datetime
    decision_id: uuid.UUID | None
    kind: str
    actor_id: str
    actor_type: str
    trace_id: str
    schema_version: int
    body: dict[str, Any]
    canonical: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class EventDigest:
    """What verifying one event needs: the chain's fields, and the outcome of comparing the
    stored columns with the hashed bytes (done by PostgreSQL when verifying in the database)."""

    seq: int
    canonical: bytes
    prev_hash: bytes
    hash: bytes
    decision_id: str
    occurred_at: datetime
    # Names of the stored columns that disagree with the canonical bytes; "" when none.
    mismatched: str
    # The decision's (state, version) after this event, when the event says it.
    state: tuple[str, int] | None


# Columns stored beside the canonical bytes, and where the bytes say the same thing.
def _derived_mismatches(event: AuditEvent, parsed: dict[str, Any]) -> list[str]:
    actor = parsed.get("actor")
    if not isinstance(actor, dict):
        actor = {}
    expected = {
        "tenant": (event.tenant_id, parsed.get("tenant")),
        "event_id": (str(event.event_id), parsed.get("event_id")),
        "decision_id": (
            str(event.decision_id) if event.decision_id else "",
            parsed.get("decision_id"),
        ),
        "kind": (event.kind, parsed.get("kind")),
        "actor.id": (event.actor_id, actor.get("id")),
        "actor.type": (event.actor_type, actor.get("type")),
        "trace_id": (event.trace_id, parsed.get("trace_id")),
        "schema_version": (event.schema_version, parsed.get("schema_version")),
    }
    return [name for name, (stored, canonical) in expected.items() if stored != canonical]


def _no_constant(name: str) -> float:
    """Refuses NaN and Infinity, which Python's parser takes but JSON (and the writer) does not."""
    raise ValueError(f"{name} is not JSON")


def digest_of(event: AuditEvent) -> EventDigest:
    """An event's digest, its columns compared with its canonical bytes in Python."""
    mismatched: list[str] = []
    state = None
    try:
        parsed = parse_json(event.canonical, parse_constant=_no_constant)
    except ValueError:
        mismatched.append("canonical bytes are not JSON")
    else:
        if not isinstance(parsed, dict):
            parsed = {}  # bytes of another shape than an event's: every field disagrees
        mismatched = _derived_mismatches(event, parsed)
        if parsed.get("occurred_at") != utc_iso(event.occurred_at):
            mismatched.append("occurred_at")
        data = parsed.get("data")
        if isinstance(data, dict) and "decision_state" in data:
            try:
                state = (str(data["decision_state"]), int(data.get("decision_version", 0)))
            except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400
                mismatched.append("data.decision_version")
    return EventDigest(
        seq=event.seq,
        canonical=event.canonical,
        prev_hash=event.prev_hash,
        hash=event.hash,
        decision_id=str(event.decision_id) if event.decision_id else "",
        occurred_at=event.occurred_at,
        mismatched=", ".join(mismatched),
        state=state,
    )


def decision_key(decision: uuid.UUID | str) -> bytes:
    """A decision id as verification keys decisions: its 16 bytes, as PostgreSQL's `uuid_send`
    gives them (cheaper to read by the million than text)."""
    if isinstance(decision, uuid.UUID):
        return decision.bytes
    return bytes.fromhex(decision.replace("-", ""))


def decision_id(key: bytes) -> str:
    """The id, as text, of a `decision_key`."""
    return str(uuid.UUID(bytes=key))


def state_key(state: str, version: object) -> str:
    """A decision's state and version as one string (`split_state_key` gives them back), so
    that the decisions and their trail compare as two plain dicts."""
    return f"{state}\x1f{version}"


def split_state_key(key: str) -> tuple[str, str]:
    """The state and the version (as text) of a `state_key`."""
    state, _, version = key.rpartition("\x1f")
    return state, version


@dataclass(frozen=True)
class RangeDigest:
    """A range of events in which PostgreSQL found nothing wrong, summed up for the chain.

    What is left to check is how it joins the events before it (`first_seq`,
    `first_prev_hash`), the Merkle tree at the checkpoints it holds, and the decisions.
    """

    count: int
    first_seq: int
    first_prev_hash: bytes
    first_decision_id: str
    first_occurred_at: datetime
    # The chain hash of each event, 32 bytes each, in order.
    hashes: bytes
    # The decisions whose state some event of the range says (`decision_key`s), and the state
    # (a `state_key`) the last such event says.
    decisions: list[bytes]
    states: list[str]
    # SHA-256(0x00 || bytes) of each event, 32 bytes each, in order; None when not asked for.
    leaves: bytes | None

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def last_hash(self) -> bytes:
        return self.hashes[-32:]


EMPTY_RANGE = RangeDigest(0, 0, b"", "", datetime.min, b"", [], [], None)
