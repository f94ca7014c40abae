"""Signed checkpoints of a tenant's trail: reading, inserting, and computing the next one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import fetch
from aval.verifier import merkle
from aval.verifier.chain import GENESIS_HASH
from aval.verifier.signed_note import Note, SignatureLine

_COLUMNS = (
    "tenant_id, tree_size, root_hash, head_hash, issued_at, key_id, signed_note, signature, "
    "frontier, note_key_name, note_key_hash"
)
_BATCH = 5000


@dataclass(frozen=True)
class CheckpointRecord:
    """One signed checkpoint: a tenant's trail as it stood at one moment.

    Attributes:
        tenant_id: The tenant.
        tree_size: Events 1..tree_size are covered (leaf index = seq - 1).
        root_hash: RFC 9162 Merkle tree hash over their canonical bytes.
        head_hash: Chain hash of event tree_size (32 zero bytes for an empty trail).
        issued_at: When it was signed.
        key_id: First 16 hex digits of the SHA-256 of the raw public key.
        signed_note: The exact bytes signed: a C2SP checkpoint's note text
            (verifier/signed_note.py), or a note of the first format (verifier/notes.py).
        signature: Ed25519 signature of signed_note.
        frontier: `merkle.Frontier.to_bytes()` after tree_size leaves.
        note_key_name: The key name of the signature line (C2SP checkpoints; "" otherwise).
        note_key_hash: The 4-byte key ID of the signature line (C2SP checkpoints; b"" else).
        cosignatures: Witnesses' signature lines, once read (`cosignatures.attach`); never
            inserted with the checkpoint.
    """

    tenant_id: str
    tree_size: int
    root_hash: bytes
    head_hash: bytes
    issued_at: datetime
    key_id: str
    signed_note: bytes
    signature: bytes
    frontier: bytes
    note_key_name: str = ""
    note_key_hash: bytes = b""
    cosignatures: tuple[SignatureLine, ...] = ()

    @property
    def origin(self) -> str:
        """The C2SP checkpoint's origin line ("" for a note of the first format)."""
        if not self.note_key_name:
            return ""
        return self.signed_note.split(b"\n", 1)[0].decode("utf-8", "replace")

    def note(self) -> str:
        """The whole signed note: its text, a blank line, its signature, then cosignatures.

        Returns:
            The note, or "" for a checkpoint of the first format (it is no signed note).
        """
        if not self.note_key_name:
            return ""
        own = SignatureLine(self.note_key_name, self.note_key_hash, self.signature)
        note = Note(self.signed_note, (own, *self.cosignatures))
        return note.encode().decode("utf-8")


class TrailInconsistent(Exception):
    """The events after the latest checkpoint do not form a chain that can be checkpointed.

    Attributes:
        tenant_id: The tenant.
        seq: The sequence number where the trail stopped making sense.
        detail: What is wrong, in English.
    """

    def __init__(self, tenant_id: str, seq: int, detail: str) -> None:
        super().__init__(f"tenant {tenant_id}, event {seq}: {detail}")
        self.tenant_id, self.seq, self.detail = tenant_id, seq, detail


def _record(row: tuple[Any, ...]) -> CheckpointRecord:
    return CheckpointRecord(
        tenant_id=row[0],
        tree_size=row[1],
        root_hash=bytes(row[2]),
        head_hash=bytes(row[3]),
        issued_at=row[4],
        key_id=row[5],
        signed_note=bytes(row[6]),
        signature=bytes(row[7]),
        frontier=bytes(row[8]),
        note_key_name=row[9] or "",
        note_key_hash=bytes(row[10] or b""),
    )


# What another module of the store selects to read whole checkpoints (cosignatures.py).
COLUMNS, record_of = _COLUMNS, _record


async def latest(conn: AsyncConnection[Any], tenant_id: str) -> CheckpointRecord | None:
    """The tenant's checkpoint of the largest tree size.

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.

    Returns:
        The checkpoint, or None when the tenant has none.
    """
    return await fetch.one(
        conn,
        f"SELECT {_COLUMNS} FROM checkpoints WHERE tenant_id = %s ORDER BY tree_size DESC LIMIT 1",
        (tenant_id,),
        _record,
    )


async def at_size(
    conn: AsyncConnection[Any], tenant_id: str, tree_size: int
) -> CheckpointRecord | None:
    """The tenant's checkpoint of exactly this tree size.

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.
        tree_size: The number of events the checkpoint covers.

    Returns:
        The checkpoint, or None when none was signed at that size.
    """
    return await fetch.one(
        conn,
        f"SELECT {_COLUMNS} FROM checkpoints WHERE tenant_id = %s AND tree_size = %s",
        (tenant_id, tree_size),
        _record,
    )


async def nearest_sizes(conn: AsyncConnection[Any], tenant_id: str, tree_size: int) -> list[int]:
    """The tree sizes of the tenant's kept checkpoints nearest to one it has no checkpoint of:
    the largest below it and the smallest above it, where there are (none when it has none).

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.
        tree_size: The size asked for.

    Returns:
        At most two sizes, smallest first.
    """
    cur = await conn.execute(
        "SELECT (SELECT max(tree_size) FROM checkpoints WHERE tenant_id = %(t)s"
        " AND tree_size < %(n)s), (SELECT min(tree_size) FROM checkpoints"
        " WHERE tenant_id = %(t)s AND tree_size > %(n)s)",
        {"t": tenant_id, "n": tree_size},
    )
    row = await cur.fetchone()
    return [int(size) for size in row or () if size is not None]


async def list_all(
    conn: AsyncConnection[Any], tenant_id: str, *, newest: int = 0
) -> list[CheckpointRecord]:
    """Every checkpoint of the tenant, or its newest ones.

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.
        newest: Only the `newest` of largest tree size; all when 0.

    Returns:
        The checkpoints, oldest (smallest tree size) first.
    """
    if newest > 0:
        found = await fetch.every(
            conn,
            f"SELECT {_COLUMNS} FROM checkpoints WHERE tenant_id = %s"
            " ORDER BY tree_size DESC LIMIT %s",
            (tenant_id, newest),
            _record,
        )
        return found[::-1]
    return await fetch.every(
        conn,
        f"SELECT {_COLUMNS} FROM checkpoints WHERE tenant_id = %s ORDER BY tree_size",
        (tenant_id,),
        _record,
    )


async def insert(conn: AsyncConnection[Any], record: CheckpointRecord) -> bool:
    """Inserts a checkpoint unless the tenant already has one of that tree size.

    Safe with several replicas: when two sign the same size, the first to commit wins and the
    other's insert does nothing (it waits for the first's commit, then finds the row).

    Args:
        conn: A connection in a transaction (or autocommit).
        record: The checkpoint.

    Returns:
        True when inserted; False when a checkpoint of that size already existed.
    """
    cur = await conn.execute(
        f"INSERT INTO checkpoints ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, tree_size) DO NOTHING",
        (
            record.tenant_id,
            record.tree_size,
            record.root_hash,
            record.head_hash,
            record.issued_at,
            record.key_id,
            record.signed_note,
            record.signature,
            record.frontier,
            record.note_key_name or None,
            record.note_key_hash or None,
        ),
    )
    return cur.rowcount == 1


async def compute(
    conn: AsyncConnection[Any], tenant_id: str, *, batch: int = _BATCH
) -> tuple[int, bytes, bytes, bytes]:
    """Works out what the next checkpoint of a tenant covers, incrementally (`advance` over
    every event).

    Returns:
        (tree_size, root_hash, head_hash, frontier bytes), as `Advance` holds them.

    Raises:
        TrailInconsistent: The events after the latest checkpoint do not continue its chain.
    """
    found = await advance(conn, tenant_id, batch=batch)
    return found.size, found.root, found.head, found.frontier


@dataclass(frozen=True)
class Advance:
    """What the next checkpoint of a tenant may cover.

    Attributes:
        size: The number of events.
        root: The RFC 9162 root over their canonical bytes.
        head: The chain hash of the last one (32 zero bytes when there is none).
        frontier: The serialised frontier to store with the checkpoint.
        not_as_sealed: The first event of a sealed range whose events do not hash to what its
            seal says (0: none); nothing from it on is covered.
    """

    size: int
    root: bytes
    head: bytes
    frontier: bytes
    not_as_sealed: int = 0


async def advance(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    batch: int = _BATCH,
    limit: int | None = None,
    boundaries: Mapping[int, bytes] | None = None,
) -> Advance:
    """Works out what the next checkpoint of a tenant covers, incrementally.

    Starts from the latest checkpoint's stored frontier and reads only the events after it, in
    sequence order and in batches, appending the leaf hash of each event's canonical bytes.
    Call it on a connection of `Store.snapshot()` so that the size, the root and the head
    describe one and the same state of the trail.

    Checks as it reads that the new events continue the chain (contiguous sequence numbers,
    each linked to the previous hash, each hash matching its bytes), so that a broken trail is
    never signed.

    Args:
        conn: A connection in a REPEATABLE READ transaction (`Store.snapshot()`).
        tenant_id: The tenant.
        batch: Events read per query.
        limit: Read no event after this sequence number (None: every event).
        boundaries: seq -> the chain hash that event must have (`seals.plan`); when given, the
            result ends at the last boundary reached with the right hash.

    Returns:
        What the next checkpoint covers.

    Raises:
        TrailInconsistent: The events after the latest checkpoint do not continue its chain.
    """
    base = await latest(conn, tenant_id)
    if base is None:
        frontier, head = merkle.Frontier(), GENESIS_HASH
    else:
        try:
            frontier = merkle.Frontier.from_bytes(base.frontier)
        except ValueError as exc:
            raise TrailInconsistent(
                tenant_id, base.tree_size, f"the stored frontier is unreadable: {exc}"
            ) from exc
        if frontier.size != base.tree_size:
            raise TrailInconsistent(
                tenant_id, base.tree_size, "the stored frontier does not match its tree size"
            )
        head = base.head_hash
    good = frontier.size  # the last boundary reached with the right hash
    last = limit if limit is not None else 2**63 - 1
    while frontier.size < last:
        # PostgreSQL hashes the bytes (the leaf, and the chain hash compared with the stored
        # one): only 65 bytes and a flag per event cross the wire.
        cur = await conn.execute(
            "SELECT seq, sha256('\\x00'::bytea || canonical), prev_hash, hash,"
            " sha256(prev_hash || int8send(seq) || canonical) = hash FROM audit_events"
            " WHERE tenant_id = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
            (tenant_id, frontier.size, last, batch),
        )
        rows = await cur.fetchall()
        for seq, leaf, prev_col, hash_col, hashes_right in rows:
            prev_hash, hash_ = bytes(prev_col), bytes(hash_col)
            expected = frontier.size + 1
            if seq != expected:
                raise TrailInconsistent(tenant_id, expected, f"the next event is seq {seq}")
            if prev_hash != head:
                raise TrailInconsistent(tenant_id, seq, "prev_hash breaks the chain")
            if not hashes_right:
                raise TrailInconsistent(tenant_id, seq, "the hash does not match the bytes")
            frontier.append(bytes(leaf))
            head = hash_
            if boundaries is not None and seq in boundaries:
                if boundaries[seq] != hash_:  # rare: read again, up to the last good one
                    found = await advance(conn, tenant_id, batch=batch, limit=good)
                    return dataclasses.replace(found, not_as_sealed=good + 1)
                good = seq
        if len(rows) < batch:
            break
    if boundaries is not None and good < frontier.size:
        return await advance(conn, tenant_id, batch=batch, limit=good)
    return Advance(frontier.size, frontier.root(), head, frontier.to_bytes())


async def tenants_to_checkpoint(conn: AsyncConnection[Any]) -> list[str]:
    """Tenants whose trail grew since their latest checkpoint (or that have none yet).

    Args:
        conn: Any connection of the store.

    Returns:
        The tenants, in name order.
    """
    cur = await conn.execute(
        "SELECT h.tenant_id FROM chain_heads h"
        " WHERE h.seq > COALESCE("
        "   (SELECT max(c.tree_size) FROM checkpoints c WHERE c.tenant_id = h.tenant_id), 0)"
        " ORDER BY h.tenant_id"
    )
    return [row[0] for row in await cur.fetchall()]
