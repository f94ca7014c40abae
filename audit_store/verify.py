"""Verification of a tenant's trail: the chain itself, and decisions against their events (I3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from . import trail
from .chain import GENESIS_HASH, chain_hash
from .records import AuditEvent


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, precise enough to find it again."""

    kind: str
    tenant_id: str
    seq: int
    decision_id: str
    detail: str


@dataclass
class Report:
    """What a verification found; `ok` when it found no problem."""

    events_checked: int = 0
    decisions_checked: int = 0
    head_hash: bytes = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Columns stored beside the canonical bytes, and where the bytes say the same thing.
def _derived_mismatches(event: AuditEvent, parsed: dict[str, Any]) -> list[str]:
    actor = parsed.get("actor") or {}
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
        "body": (event.body, parsed),
    }
    return [name for name, (stored, canonical) in expected.items() if stored != canonical]


class ChainVerifier:
    """Checks events fed in sequence order; collects every problem rather than the first."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.report = Report()
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        # decision id -> (state, version) after its last event
        self.last_state: dict[str, tuple[str, int]] = {}

    def _problem(self, kind: str, seq: int, decision_id: str, detail: str) -> None:
        self.report.problems.append(Problem(kind, self.tenant_id, seq, decision_id, detail))

    def feed(self, event: AuditEvent) -> None:
        decision = str(event.decision_id) if event.decision_id else ""
        self.report.events_checked += 1
        if event.seq != self._expected_seq:
            self._problem(
                "sequence_gap",
                event.seq,
                decision,
                f"expected seq {self._expected_seq}, found {event.seq}",
            )
        if event.prev_hash != self._prev_hash:
            self._problem(
                "broken_link",
                event.seq,
                decision,
                "prev_hash does not match the hash of the previous event",
            )
        if chain_hash(event.prev_hash, event.seq, event.canonical) != event.hash:
            self._problem(
                "hash_mismatch",
                event.seq,
                decision,
                "stored hash differs from SHA-256(prev_hash, seq, canonical bytes)",
            )
        try:
            parsed = json.loads(event.canonical)
        except ValueError:
            self._problem("canonical_mismatch", event.seq, decision, "canonical bytes are not JSON")
        else:
            wrong = _derived_mismatches(event, parsed)
            if wrong:
                self._problem(
                    "canonical_mismatch",
                    event.seq,
                    decision,
                    "stored columns disagree with the hashed bytes: " + ", ".join(wrong),
                )
            data = parsed.get("data") or {}
            if decision and "decision_state" in data:
                self.last_state[decision] = (
                    data["decision_state"],
                    data.get("decision_version", 0),
                )
        self._expected_seq = event.seq + 1
        self._prev_hash = event.hash
        self.report.head_hash = event.hash

    def check_head(self, head: tuple[int, bytes] | None) -> None:
        """Compares the recorded chain head with the last event seen (catches a cut tail)."""
        last_seq = self._expected_seq - 1
        if head is None:
            if last_seq:
                self._problem("head_mismatch", last_seq, "", "events exist but no chain head")
            return
        seq, hash_ = head
        if seq != last_seq or hash_ != self._prev_hash:
            self._problem(
                "head_mismatch",
                seq,
                "",
                f"chain head says seq {seq}, the events end at seq {last_seq}",
            )

    def check_decisions(self, decisions: Iterable[tuple[uuid.UUID, str, int]]) -> None:
        """Compares each decision's stored (state, version) with what its last event says."""
        seen: set[str] = set()
        for decision_id, state, version in decisions:
            key = str(decision_id)
            seen.add(key)
            self.report.decisions_checked += 1
            trailed = self.last_state.get(key)
            if trailed is None:
                self._problem("missing_trail", 0, key, f"decision is {state} but has no event")
            elif trailed != (state, version):
                self._problem(
                    "state_mismatch",
                    0,
                    key,
                    f"decision is {state} v{version}, its trail says {trailed[0]} v{trailed[1]}",
                )
        for key in sorted(set(self.last_state) - seen):
            self._problem("orphan_event", 0, key, "events name a decision that does not exist")


async def _decision_states(
    conn: AsyncConnection[Any], tenant_id: str
) -> AsyncIterable[tuple[uuid.UUID, str, int]]:
    async with conn.cursor(name="aval_verify_decisions") as cur:
        await cur.execute(
            "SELECT id, state, version FROM decisions WHERE tenant_id = %s", (tenant_id,)
        )
        async for row in cur:
            yield row[0], row[1], row[2]


async def verify_tenant(conn: AsyncConnection[Any], tenant_id: str) -> Report:
    """Verifies one tenant's chain, head and decisions; reports every problem found.

    Run it in `Store.snapshot()`: in any weaker transaction, writes that commit between its
    statements look like tampering.
    """
    verifier = ChainVerifier(tenant_id)
    async for event in trail.iter_events(conn, tenant_id):
        verifier.feed(event)
    verifier.check_head(await trail.chain_head(conn, tenant_id))
    verifier.check_decisions([row async for row in _decision_states(conn, tenant_id)])
    return verifier.report
