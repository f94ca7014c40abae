"""Verification of a tenant's trail: the chain itself, and decisions against their events (I3)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from psycopg import AsyncConnection

from . import merkle, trail
from .chain import GENESIS_HASH, chain_hash
from .digests import EventDigest, digest_of, iter_digests
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
