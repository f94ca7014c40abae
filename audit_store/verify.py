"""Verification of a tenant's trail: the chain itself, and decisions against their events (I3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection

from . import merkle, trail
from .chain import GENESIS_HASH, chain_hash, utc_iso
from .records import AuditEvent

# (note, signature) -> does the deployment's public key sign it?
SignatureCheck = Callable[[bytes, bytes], bool]
# note -> its "name: value" fields
NoteParser = Callable[[bytes], dict[str, str]]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, precise enough to find it again."""

    kind: str
    tenant_id: str
    seq: int
    decision_id: str
    detail: str


class SignedCheckpoint(Protocol):
    """What verification needs of a signed checkpoint (audit_store.checkpoints records)."""

    @property
    def tree_size(self) -> int: ...
    @property
    def root_hash(self) -> bytes: ...
    @property
    def head_hash(self) -> bytes: ...
    @property
    def signed_note(self) -> bytes: ...
    @property
    def signature(self) -> bytes: ...


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


@dataclass
class Report:
    """What a verification found; `ok` when it found no problem."""

    events_checked: int = 0
    decisions_checked: int = 0
    checkpoints_checked: int = 0
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


def digest_of(event: AuditEvent) -> EventDigest:
    """An event's digest, its columns compared with its canonical bytes in Python."""
    mismatched: list[str] = []
    state = None
    try:
        parsed = json.loads(event.canonical)
    except ValueError:
        mismatched.append("canonical bytes are not JSON")
    else:
        mismatched = _derived_mismatches(event, parsed)
        if parsed.get("occurred_at") != utc_iso(event.occurred_at):
            mismatched.append("occurred_at")
        data = parsed.get("data") or {}
        if "decision_state" in data:
            try:
                state = (str(data["decision_state"]), int(data.get("decision_version", 0)))
            except (TypeError, ValueError):
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


# The same comparisons as digest_of, made by PostgreSQL: a verifier that reads millions of
# events must not parse their JSON in Python.
_DIGESTS = """
SELECT e.seq, e.canonical, e.prev_hash, e.hash, coalesce(e.decision_id::text, ''), e.occurred_at,
    concat_ws(', ',
        CASE WHEN e.tenant_id IS DISTINCT FROM j->>'tenant' THEN 'tenant' END,
        CASE WHEN e.event_id::text IS DISTINCT FROM j->>'event_id' THEN 'event_id' END,
        CASE WHEN coalesce(e.decision_id::text, '') IS DISTINCT FROM j->>'decision_id'
             THEN 'decision_id' END,
        CASE WHEN e.kind IS DISTINCT FROM j->>'kind' THEN 'kind' END,
        CASE WHEN e.actor_id IS DISTINCT FROM j->'actor'->>'id' THEN 'actor.id' END,
        CASE WHEN e.actor_type IS DISTINCT FROM j->'actor'->>'type' THEN 'actor.type' END,
        CASE WHEN e.trace_id IS DISTINCT FROM j->>'trace_id' THEN 'trace_id' END,
        CASE WHEN e.schema_version::text IS DISTINCT FROM j->>'schema_version'
             THEN 'schema_version' END,
        CASE WHEN e.body IS DISTINCT FROM j THEN 'body' END,
        CASE WHEN e.occurred_at IS DISTINCT FROM (j->>'occurred_at')::timestamptz
             THEN 'occurred_at' END),
    j->'data'->>'decision_state', (j->'data'->>'decision_version')::bigint
FROM audit_events e
-- OFFSET 0 keeps the planner from pasting the parse into each use of j (a dozen parses)
CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS parsed
WHERE e.tenant_id = %s AND e.seq >= %s AND e.seq < %s
ORDER BY e.seq
"""


def _digest_of_row(row: tuple[Any, ...]) -> EventDigest:
    seq, canonical, prev, hash_, decision, occurred_at, mismatched, state, version = row
    return EventDigest(
        seq=seq,
        canonical=bytes(canonical),
        prev_hash=bytes(prev),
        hash=bytes(hash_),
        decision_id=decision,
        occurred_at=occurred_at,
        mismatched=mismatched,
        state=(state, version) if state is not None else None,
    )


async def iter_digests(
    conn: AsyncConnection[Any], tenant_id: str, *, batch: int = 5_000
) -> AsyncIterator[EventDigest]:
    """Every event of a tenant in sequence order, compared with its bytes by PostgreSQL.

    Reads by ranges of sequence numbers (each an index range scan, whatever the planner's
    statistics say), jumping over gaps. A range whose bytes PostgreSQL cannot read as JSON
    (tampered ones) is read again and compared in Python, which names the problem. The next
    range is fetched while the caller checks the current one.
    """

    async def fetch(start: int) -> tuple[list[EventDigest], int | None]:
        end = start + batch
        try:
            async with conn.transaction(), conn.cursor(binary=True) as cur:  # a savepoint
                await cur.execute(_DIGESTS, (tenant_id, start, end))
                digests = [_digest_of_row(row) for row in await cur.fetchall()]
        except psycopg.DataError:
            events = await trail.query_events(
                conn, trail.EventFilter(tenant_id), after_seq=start - 1, limit=batch
            )
            digests = [digest_of(event) for event in events if event.seq < end]
        return digests, await _next_seq(conn, tenant_id, end - 1)

    start = await _next_seq(conn, tenant_id, None)
    if start is None:
        return
    pending: asyncio.Future[tuple[list[EventDigest], int | None]] | None = asyncio.ensure_future(
        fetch(start)
    )
    try:
        while pending is not None:
            digests, start = await pending
            pending = asyncio.ensure_future(fetch(start)) if start is not None else None
            await asyncio.sleep(0)  # let the next fetch send its query before we get busy
            for digest in digests:
                yield digest
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


async def _next_seq(conn: AsyncConnection[Any], tenant_id: str, after: int | None) -> int | None:
    """The smallest sequence number above `after` (any, when None), or None."""
    if after is None:
        cur = await conn.execute(
            "SELECT min(seq) FROM audit_events WHERE tenant_id = %s", (tenant_id,)
        )
    else:
        cur = await conn.execute(
            "SELECT min(seq) FROM audit_events WHERE tenant_id = %s AND seq > %s",
            (tenant_id, after),
        )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


class ChainVerifier:
    """Checks events fed in sequence order; collects every problem rather than the first.

    With signed checkpoints, it also rebuilds the tenant's Merkle tree as events pass and
    compares it with each checkpoint's signed root: the one check that catches a chain
    rewritten consistently by someone with full access to the database (I3).
    """

    def __init__(
        self,
        tenant_id: str,
        checkpoints: Sequence[SignedCheckpoint] = (),
        *,
        signature_ok: SignatureCheck | None = None,
        parse_note: NoteParser | None = None,
        since: datetime | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.report = Report()
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._since = since
        self._quiet = False  # problems of events before `since` are not reported
        # decision id -> (state, version) after its last event
        self.last_state: dict[str, tuple[str, int]] = {}
        self._tree = merkle.Frontier()
        self._pending = sorted(checkpoints, key=lambda c: c.tree_size)
        for checkpoint in self._pending:
            self._check_signature(checkpoint, signature_ok, parse_note)

    def _problem(self, kind: str, seq: int, decision_id: str, detail: str) -> None:
        if not self._quiet:
            self.report.problems.append(Problem(kind, self.tenant_id, seq, decision_id, detail))

    def _check_signature(
        self,
        checkpoint: SignedCheckpoint,
        signature_ok: SignatureCheck | None,
        parse_note: NoteParser | None,
    ) -> None:
        size = checkpoint.tree_size
        self.report.checkpoints_checked += 1
        if signature_ok is None:
            self._problem(
                "unverifiable_checkpoint",
                size,
                "",
                "no public key to check the checkpoint's signature with",
            )
        elif not signature_ok(checkpoint.signed_note, checkpoint.signature):
            self._problem(
                "bad_signature",
                size,
                "",
                "the checkpoint's signature does not verify with the public key",
            )
        if parse_note is not None:
            note = parse_note(checkpoint.signed_note)
            signed = (
                note.get("tenant"),
                note.get("tree_size"),
                note.get("root_hash"),
                note.get("head_hash"),
            )
            stored = (
                self.tenant_id,
                str(size),
                checkpoint.root_hash.hex(),
                checkpoint.head_hash.hex(),
            )
            if signed != stored:
                self._problem(
                    "checkpoint_mismatch",
                    size,
                    "",
                    "the stored checkpoint differs from the note it signed",
                )

    def _check_checkpoints(self, head: bytes) -> None:
        while self._pending and self._pending[0].tree_size == self._tree.size:
            checkpoint = self._pending.pop(0)
            if self._tree.root() != checkpoint.root_hash or head != checkpoint.head_hash:
                self._problem(
                    "rewritten_history",
                    checkpoint.tree_size,
                    "",
                    f"the first {checkpoint.tree_size} events no longer hash to the root "
                    "their signed checkpoint holds: history was changed",
                )

    def feed(self, event: AuditEvent) -> None:
        """Checks one stored event, comparing its columns with its bytes here (offline)."""
        self.check(digest_of(event))

    def check(self, event: EventDigest) -> None:
        """Checks one event given as what the chain needs and what was compared elsewhere."""
        decision = event.decision_id
        self._quiet = self._since is not None and event.occurred_at < self._since
        self.report.events_checked += 1
        self._tree.append(merkle.leaf_hash(event.canonical))
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
        if event.mismatched:
            self._problem(
                "canonical_mismatch",
                event.seq,
                decision,
                "stored columns disagree with the hashed bytes: " + event.mismatched,
            )
        if decision and event.state is not None:
            self.last_state[decision] = event.state
        self._expected_seq = event.seq + 1
        self._prev_hash = event.hash
        self.report.head_hash = event.hash
        self._quiet = False
        self._check_checkpoints(event.hash)

    def finish_checkpoints(self) -> None:
        """Reports checkpoints that signed more events than remain (a cut tail)."""
        for checkpoint in self._pending:
            self._problem(
                "truncated",
                checkpoint.tree_size,
                "",
                f"a checkpoint signed {checkpoint.tree_size} events; only {self._tree.size} remain",
            )
        self._pending = []

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


async def verify_tenant(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    checkpoints: Sequence[SignedCheckpoint] = (),
    signature_ok: SignatureCheck | None = None,
    parse_note: NoteParser | None = None,
    since: datetime | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 10_000,
) -> Report:
    """Verifies one tenant's chain, checkpoints, head and decisions; reports every problem.

    Run it in `Store.snapshot()`: in any weaker transaction, writes that commit between its
    statements look like tampering. `on_progress(events_checked)` is called every
    `progress_every` events.
    """
    verifier = ChainVerifier(
        tenant_id, checkpoints, signature_ok=signature_ok, parse_note=parse_note, since=since
    )
    async for digest in iter_digests(conn, tenant_id):
        verifier.check(digest)
        if on_progress is not None and verifier.report.events_checked % progress_every == 0:
            on_progress(verifier.report.events_checked)
    verifier.finish_checkpoints()
    verifier.check_head(await trail.chain_head(conn, tenant_id))
    verifier.check_decisions([row async for row in _decision_states(conn, tenant_id)])
    return verifier.report
