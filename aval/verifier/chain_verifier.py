"""The chain verifier: events fed in order, checked against their links, the signed
checkpoints and the decisions' stored states, every problem reported (I3)."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aval.verifier import merkle_tree
from aval.verifier.chain import GENESIS_HASH, chain_hash, utc_iso
from aval.verifier.events import (
    AuditEvent,
    EventDigest,
    RangeDigest,
    decision_id,
    decision_key,
    digest_of,
    split_state_key,
    state_key,
)

# (note, signature) -> does the deployment's public key sign it?
SignatureCheck = Callable[[bytes, bytes], bool]
# note -> its "name: value" fields
NoteParser = Callable[[bytes], dict[str, str]]


# The problems of a decision's facts and policy, as opposed to the chain's (`check_facts`).
FACT_KINDS = frozenset(
    {
        "decision_projection_mismatch",
        "review_projection_mismatch",
        "projection_unchecked",
        "policy_quorum_not_met",
        "approver_is_proposer",
        "verdict_after_deadline",
        "verdict_role_not_eligible",
        "expired_with_outcome",
        "outcome_not_derived",
        "registry_projection_mismatch",
    }
)


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, precise enough to find it again."""

    kind: str
    tenant_id: str
    seq: int
    decision_id: str
    detail: str


class SignedCheckpoint(Protocol):
    """What verification needs of a signed checkpoint (the store's records, a bundle's lines)."""

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
    # With a witness policy (`witness_policy.check_witnesses`): trusted cosignatures that
    # verified, and the size of the latest checkpoint that meets the policy.
    cosignatures_verified: int = 0
    witnessed_tree_size: int = 0
    head_hash: bytes = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    # Events the largest checkpoint whose signature verifies covers, and those after it.
    signed_events: int = 0
    unsigned_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def require_signed(self, tenant_id: str) -> None:
        """Strict mode: events that no signature covers yet are a problem (`unsigned_events`)."""
        if self.unsigned_events:
            self.problems.append(
                Problem(
                    "unsigned_events",
                    tenant_id,
                    self.signed_events + 1,
                    "",
                    f"{self.unsigned_events} event(s) from seq {self.signed_events + 1} on are "
                    "covered by no signed checkpoint",
                )
            )


class ChainVerifier:
    """Checks events fed in sequence order; collects every problem rather than the first.

    Events come one by one (`check`, `feed`) or as ranges in which PostgreSQL found nothing
    wrong (`check_range`), in any mix, in sequence order.

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
        key_id: str = "",
    ) -> None:
        self.tenant_id = tenant_id
        # The fingerprint of the key `signature_ok` checks with, when known: a checkpoint
        # signed by it must say so where it is stored (`key_id`, which ListCheckpoints shows).
        self._key_id = key_id
        self.report = Report()
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._since = since
        self._quiet = False  # problems of events before `since` are not reported
        # decision (a `decision_key`) -> its state and version after its last event, as a
        # `state_key`
        self.last_state: dict[bytes, str] = {}
        self._tree = merkle_tree.Frontier()
        # By tree size; taken from the front as the tree reaches each (a deque: thousands).
        self._pending = deque(sorted(checkpoints, key=lambda c: c.tree_size))
        self._signed = 0  # the largest tree size whose signature verifies
        for checkpoint in self._pending:
            if self._check_signature(checkpoint, signature_ok, parse_note):
                self._signed = max(self._signed, checkpoint.tree_size)
        self._check_checkpoints(GENESIS_HASH)  # those signed before the first event

    def _problem(self, kind: str, seq: int, decision_id: str, detail: str) -> None:
        if not self._quiet:
            self.report.problems.append(Problem(kind, self.tenant_id, seq, decision_id, detail))

    def _check_signature(
        self,
        checkpoint: SignedCheckpoint,
        signature_ok: SignatureCheck | None,
        parse_note: NoteParser | None,
    ) -> bool:
        """Checks a checkpoint's signature and note; True when the signature verifies."""
        size = checkpoint.tree_size
        self.report.checkpoints_checked += 1
        verified = False
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
        else:
            verified = True
        if parse_note is not None:
            try:
                note = parse_note(checkpoint.signed_note)
            except ValueError as exc:
                self._problem(
                    "checkpoint_mismatch", size, "", f"the signed note is malformed: {exc}"
                )
                return False  # what a malformed note covers cannot be read
            signed: tuple[str | None, ...] = (
                note.get("tenant"),
                note.get("tree_size"),
                note.get("root_hash"),
                note.get("head_hash"),
            )
            stored: tuple[str | None, ...] = (
                self.tenant_id,
                str(size),
                checkpoint.root_hash.hex(),
                checkpoint.head_hash.hex(),
            )
            # The store's records also say when they were signed (shown by ListCheckpoints,
            # read by the retention rule): that too must be the note's (a bundle's lines
            # have their readable fields compared with the note instead).
            issued = getattr(checkpoint, "issued_at", None)
            if isinstance(issued, datetime):
                signed += (note.get("issued_at"),)
                stored += (utc_iso(issued),)
            # And whose key signed it: the first format says it in the note; a C2SP note's
            # signature verified with the key of fingerprint `key_id`.
            stored_key = getattr(checkpoint, "key_id", None)
            said_key = note.get("key_id") or (self._key_id if verified and self._key_id else None)
            if isinstance(stored_key, str) and said_key is not None:
                signed += (said_key,)
                stored += (stored_key,)
            if signed != stored:
                self._problem(
                    "checkpoint_mismatch",
                    size,
                    "",
                    "the stored checkpoint differs from the note it signed",
                )
        return verified

    def _check_checkpoints(self, head: bytes) -> None:
        while self._pending and self._pending[0].tree_size == self._tree.size:
            checkpoint = self._pending.popleft()
            if self._tree.root() != checkpoint.root_hash or head != checkpoint.head_hash:
                self._problem(
                    "rewritten_history",
                    checkpoint.tree_size,
                    "",
                    f"the first {checkpoint.tree_size} events no longer hash to the root "
                    "their signed checkpoint holds: history was changed",
                )

    @property
    def leaves_until(self) -> int:
        """The number of events whose Merkle leaves are still needed (0: none)."""
        return self._pending[-1].tree_size if self._pending else 0

    def feed(self, event: AuditEvent) -> None:
        """Checks one stored event, comparing its columns with its bytes here (offline)."""
        self.check(digest_of(event))

    def check(self, event: EventDigest) -> None:
        """Checks one event given as what the chain needs and what was compared elsewhere."""
        decision = event.decision_id
        self._quiet = self._since is not None and event.occurred_at < self._since
        self.report.events_checked += 1
        if self._pending:  # the tree only serves the checkpoints
            self._tree.append(merkle_tree.leaf_hash(event.canonical))
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
            self.last_state[decision_key(decision)] = state_key(*event.state)
        self._expected_seq = event.seq + 1
        self._prev_hash = event.hash
        self.report.head_hash = event.hash
        self._quiet = False
        self._check_checkpoints(event.hash)

    def check_range(self, events: RangeDigest) -> None:
        """Checks a range of events in which PostgreSQL found nothing wrong.

        What remains is how its first event joins the events before it, and the checkpoints
        inside it. `events.leaves` must be given while `leaves_until` is above the events
        checked so far.
        """
        first = events.first_seq
        self._quiet = self._since is not None and events.first_occurred_at < self._since
        if first != self._expected_seq:
            self._problem(
                "sequence_gap",
                first,
                events.first_decision_id,
                f"expected seq {self._expected_seq}, found {first}",
            )
        if events.first_prev_hash != self._prev_hash:
            self._problem(
                "broken_link",
                first,
                events.first_decision_id,
                "prev_hash does not match the hash of the previous event",
            )
        self._quiet = False
        self.last_state.update(zip(events.decisions, events.states, strict=True))
        if self._pending:
            self._grow_tree(events)
        self.report.events_checked += events.count
        self._expected_seq = events.last_seq + 1
        self._prev_hash = self.report.head_hash = events.last_hash

    def _grow_tree(self, events: RangeDigest) -> None:
        blob, hashes = events.leaves, events.hashes
        if blob is None or len(blob) != 32 * events.count:
            raise ValueError("the Merkle leaves of the range are needed")
        done = 0
        while self._pending and done < events.count:
            wanted = self._pending[0].tree_size - self._tree.size
            taken = min(wanted, events.count - done)
            self._tree.extend_packed(blob[32 * done : 32 * (done + taken)])
            done += taken
            if taken == wanted:
                self._check_checkpoints(hashes[32 * done - 32 : 32 * done])

    def finish_checkpoints(self) -> None:
        """Reports checkpoints that signed more events than remain (a cut tail), and counts
        the events no verified signature covers."""
        last_seq = self._expected_seq - 1
        self.report.signed_events = min(self._signed, last_seq)
        self.report.unsigned_events = last_seq - self.report.signed_events
        for checkpoint in self._pending:
            self._problem(
                "truncated",
                checkpoint.tree_size,
                "",
                f"a checkpoint signed {checkpoint.tree_size} events; "
                f"only {self.report.events_checked} remain",
            )
        self._pending.clear()

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

    def check_facts(
        self, decision: str, differing: Sequence[str], violations: Sequence[tuple[str, int, str]]
    ) -> None:
        """Reports one decision's stored facts that differ from what its events imply (by
        column name), and the review policy's violations its events show, as (kind, seq,
        detail)."""
        for column in differing:
            kind = (
                "review_projection_mismatch"
                if column == "reviews"
                else "decision_projection_mismatch"
            )
            detail = (
                f"{column} differ from the trail"
                if column == "reviews"
                else f"{column} differs from the trail"
            )
            self._problem(kind, 0, decision, detail)
        for kind, seq, detail in violations:
            self._problem(kind, seq, decision, detail)

    def facts_unchecked(self, slices: int) -> None:
        """Reports that the facts of some decisions could not be compared with their events
        (bytes that are not JSON, which the chain check names)."""
        self._problem(
            "projection_unchecked",
            0,
            "",
            f"{slices} range(s) of decisions hold events that are not JSON: their facts and "
            "policy were not checked",
        )

    def check_decisions(self, decisions: Iterable[tuple[uuid.UUID | str, str, int]]) -> None:
        """Compares each decision's stored (state, version) with what its last event says."""
        self.check_decision_states({decision_key(d): state_key(s, v) for d, s, v in decisions})

    def check_decision_states(self, stored: dict[bytes, str]) -> None:
        """Compares each decision's stored state and version (`state_key`s by `decision_key`)
        with its last event's.

        Only events that say a decision's state (`decision_state` in their data) count: an
        event of a kind this code does not know, with no state in it, changes nothing.
        """
        self.report.decisions_checked += len(stored)
        trailed_states = self.last_state
        if stored == trailed_states:
            return
        # Byte order is the order of the ids as text: problems come out as they always did.
        for key in sorted(stored):
            trailed = trailed_states.get(key)
            if trailed == stored[key]:
                continue
            state, version = split_state_key(stored[key])
            decision = decision_id(key)
            if trailed is None:
                self._problem("missing_trail", 0, decision, f"decision is {state} but has no event")
            else:
                said, said_version = split_state_key(trailed)
                self._problem(
                    "state_mismatch",
                    0,
                    decision,
                    f"decision is {state} v{version}, its trail says {said} v{said_version}",
                )
        for key in sorted(set(trailed_states) - set(stored)):
            self._problem(
                "orphan_event", 0, decision_id(key), "events name a decision that does not exist"
            )
