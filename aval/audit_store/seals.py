"""Seals: the proof, kept beside the trail, that the service itself appended a range of events.

Every transaction that appends events stores a seal of the range it appended: an HMAC-SHA256,
with a key derived from the deployment's Ed25519 signing key (held only in the process), over
(tenant, first seq, last seq, prev hash of the first, hash of the last). Before the seal is
made, the chain of the events the service sent is recomputed here, so a seal covers the bytes
the service wrote, as it wrote them. The checkpointer signs an event only when a chain of seals
covers it from the last checkpoint (`plan`); see docs/signing.md for what this protects.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg import AsyncConnection

from aval.verifier.chain import chain_hash

_MAC_TAG = b"aval.v1/trail-seal\n"
_OUTBOX_TAG = b"aval.v1/webhook-outbox-seal\n"


class SealRefused(Exception):
    """The database did not store what the service sent: the range is not sealed.

    Attributes:
        tenant_id: The tenant.
        seq: The first event whose stored hash differs from what the service computed.
    """

    def __init__(self, tenant_id: str, seq: int) -> None:
        super().__init__(
            f"tenant {tenant_id}, event {seq}: the database did not store the events as the "
            "service sent them; they are not sealed"
        )
        self.tenant_id, self.seq = tenant_id, seq


class HeadMoved(Exception):
    """A tenant's head is not where the service last saw its own append end: nothing written.

    Attributes:
        tenant_id: The tenant.
        seq: The head's sequence number, as the database reports it.
        hash: Its chain hash.
    """

    def __init__(self, tenant_id: str, seq: int, hash_: bytes) -> None:
        super().__init__(f"tenant {tenant_id}: the chain head is at {seq}")
        self.tenant_id, self.seq, self.hash = tenant_id, seq, hash_


class NotAsSealed(Exception):
    """What one statement appended is not the range the service sealed before sending it
    (a skipped duplicate, a concurrent append, or bytes stored otherwise): nothing written."""


@dataclass(frozen=True)
class Sealer:
    """The key that seals appended ranges; never shown, logged or given to the database.

    Attributes:
        key_id: The id of the signing key the seal key is derived from.
    """

    _key: bytes = field(repr=False)
    key_id: str

    def mac(
        self, tenant_id: str, first: int, last: int, prev_hash: bytes, last_hash: bytes
    ) -> bytes:
        """The seal of a range of events.

        Args:
            tenant_id: The tenant.
            first: The first sequence number of the range.
            last: The last one.
            prev_hash: The chain hash of event `first - 1`.
            last_hash: The chain hash of event `last`.

        Returns:
            The 32-byte HMAC-SHA256.
        """
        name = tenant_id.encode("utf-8")
        message = b"".join(
            (_MAC_TAG, struct.pack(">I", len(name)), name, struct.pack(">qq", first, last))
        )
        return hmac.new(self._key, message + prev_hash + last_hash, hashlib.sha256).digest()

    def outbox_mac(
        self, tenant_id: str, row_id: str, decision_id: str, application_id: str, body: bytes
    ) -> bytes:
        """The seal of a webhook outbox row: the exact bytes to POST, and to whom.

        Args:
            tenant_id: The tenant.
            row_id: The row's id (the final event's id).
            decision_id: The decision.
            application_id: The application the outcome goes to.
            body: The bytes the delivery worker will sign and send.

        Returns:
            The 32-byte HMAC-SHA256 (another domain than the trail seals').
        """
        parts = [f.encode("utf-8") for f in (tenant_id, row_id, decision_id, application_id)]
        parts.append(body)
        message = b"".join(struct.pack(">I", len(part)) + part for part in parts)
        return hmac.new(self._key, _OUTBOX_TAG + message, hashlib.sha256).digest()


class SealHolder(Protocol):
    """What a connection's owner (the `Store`) says about sealing."""

    @property
    def sealer(self) -> Sealer | None: ...


_holders: weakref.WeakKeyDictionary[AsyncConnection[Any], SealHolder] = weakref.WeakKeyDictionary()


def attach(conn: AsyncConnection[Any], holder: SealHolder) -> None:
    """Records that what is appended on `conn` is sealed with `holder.sealer` (if any)."""
    _holders[conn] = holder


def sealer_of(conn: AsyncConnection[Any]) -> Sealer | None:
    """The sealer of the store `conn` belongs to; None when it has none (no signing key)."""
    holder = _holders.get(conn)
    return holder.sealer if holder is not None else None


@dataclass(frozen=True)
class Appended:
    """A range one statement appended to a tenant's chain, as the database reports it."""

    tenant_id: str
    first_seq: int
    prev_hash: bytes
    last_seq: int
    last_hash: bytes


def check_chain(range_: Appended, canonical: Sequence[bytes]) -> None:
    """Recomputes the chain of the events the service sent and compares it with the range.

    Args:
        range_: What the database says it appended.
        canonical: The bytes the service sent, in order.

    Raises:
        SealRefused: The count or the last hash differs from what the bytes give.
    """
    if range_.last_seq - range_.first_seq + 1 != len(canonical):
        raise SealRefused(range_.tenant_id, range_.first_seq)
    head = range_.prev_hash
    for offset, event in enumerate(canonical):
        head = chain_hash(head, range_.first_seq + offset, event)
    if head != range_.last_hash:
        raise SealRefused(range_.tenant_id, range_.first_seq)


def expected_range(tenant_id: str, head: tuple[int, bytes], canonical: Sequence[bytes]) -> Appended:
    """The range the service's bytes make when appended after `head` (seq, hash)."""
    seq, prev_hash = head
    last_hash = prev_hash
    for offset, event in enumerate(canonical, start=1):
        last_hash = chain_hash(last_hash, seq + offset, event)
    return Appended(tenant_id, seq + 1, prev_hash, seq + len(canonical), last_hash)


async def store_seals(
    conn: AsyncConnection[Any], sealer: Sealer, ranges: Sequence[Appended]
) -> None:
    """Stores the seals of ranges already checked with `check_chain`, in the caller's
    transaction (the same one that appended them)."""
    if not ranges:
        return
    rows = [
        (
            r.tenant_id,
            r.first_seq,
            r.last_seq,
            r.prev_hash,
            r.last_hash,
            sealer.key_id,
            sealer.mac(r.tenant_id, r.first_seq, r.last_seq, r.prev_hash, r.last_hash),
        )
        for r in ranges
    ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    await conn.execute(
        "INSERT INTO trail_seals (tenant_id, first_seq, last_seq, prev_hash, last_hash, key_id,"
        f" mac) VALUES {values}",
        [value for row in rows for value in row],
    )


@dataclass(frozen=True)
class Seal:
    """A stored seal (its MAC not yet checked)."""

    first_seq: int
    last_seq: int
    prev_hash: bytes
    last_hash: bytes
    mac: bytes


async def seals_after(conn: AsyncConnection[Any], tenant_id: str, after_seq: int) -> list[Seal]:
    """The tenant's seals of ranges that end after `after_seq`, by first sequence number."""
    cur = await conn.execute(
        "SELECT first_seq, last_seq, prev_hash, last_hash, mac FROM trail_seals"
        " WHERE tenant_id = %s AND last_seq > %s ORDER BY first_seq",
        (tenant_id, after_seq),
    )
    return [
        Seal(row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]))
        for row in await cur.fetchall()
    ]


@dataclass(frozen=True)
class Adoption:
    """Events appended before the service sealed, adopted once as if sealed (docs/signing.md).

    Attributes:
        up_to_seq: The last event adopted.
        head_hash: Its chain hash.
    """

    up_to_seq: int
    head_hash: bytes


@dataclass
class Plan:
    """How far a tenant's trail may be signed: the seals chained from the last checkpoint.

    Attributes:
        limit: The last sequence number that seals (or the adoption) cover without a gap.
        boundaries: seq -> the chain hash that event must have (the ends of the ranges, and
            the event before each), for the walk over the events to check.
        first_unsealed: The first event after `limit` that no seal covers (0: none known).
        adopted: The adopted range's last seq when the plan uses the adoption (0 otherwise).
    """

    limit: int
    boundaries: dict[int, bytes]
    first_unsealed: int = 0
    adopted: int = 0


def plan(
    sealer: Sealer,
    tenant_id: str,
    base_size: int,
    base_head: bytes,
    head_seq: int,
    seals: Sequence[Seal],
    adoption: Adoption | None = None,
) -> Plan:
    """Chains the seals from the last checkpoint, as far as they go without a gap.

    A seal whose MAC does not verify is no seal. A range must start right after the previous
    one and name as its previous hash the hash the previous one ended with (or the checkpoint's
    head): the walk over the events then checks that the events hash to these values.

    Args:
        sealer: The deployment's seal key.
        tenant_id: The tenant.
        base_size: The last checkpoint's tree size (0: none).
        base_head: Its head hash (32 zero bytes: none).
        head_seq: The last event of the tenant.
        seals: `seals_after(base_size)`.
        adoption: The adoption the caller accepted, if any: it covers the events up to its
            seq, as if sealed, when no seal starts right after the checkpoint.

    Returns:
        The plan.
    """
    cursor, boundaries = base_size, {base_size: base_head}
    adopted = 0
    by_first = {s.first_seq: s for s in seals}
    if adoption is not None and cursor < adoption.up_to_seq and (cursor + 1) not in by_first:
        cursor, adopted = adoption.up_to_seq, adoption.up_to_seq
        boundaries[cursor] = adoption.head_hash
    while cursor < head_seq:
        seal = by_first.get(cursor + 1)
        if seal is None or not hmac.compare_digest(
            seal.mac,
            sealer.mac(tenant_id, seal.first_seq, seal.last_seq, seal.prev_hash, seal.last_hash),
        ):
            return Plan(cursor, boundaries, cursor + 1, adopted)
        if boundaries[cursor] != seal.prev_hash:
            return Plan(cursor, boundaries, cursor + 1, adopted)
        cursor = seal.last_seq
        boundaries[cursor] = seal.last_hash
    return Plan(cursor, boundaries, 0, adopted)
