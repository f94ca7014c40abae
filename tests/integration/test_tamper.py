"""The tamper suite (I3): each kind of tampering, done as a superuser would, is caught and named;
random histories with one random tampering are always caught, and untouched ones never are."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aval.audit_store import trail, verify
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import SYSTEM_ACTOR
from aval.verifier import merkle

from .trail_access import as_superuser, connect, rewrite_from

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    head_hash: bytes
    signed_note: bytes
    signature: bytes


def signature_ok(note: bytes, signature: bytes) -> bool:
    try:
        KEY.public_key().verify(signature, note)
    except InvalidSignature:
        return False
    return True


def parse_note(note: bytes) -> dict[str, str]:
    fields = {}
    for line in note.decode().splitlines()[1:]:
        name, _, value = line.partition(": ")
        fields[name] = value
    return fields


async def make_history(url: str, tenant: str, sizes: list[int]) -> None:
    """Appends batches of events (one transaction per batch) to a new tenant's chain."""
    async with await connect(url) as conn:
        for n, size in enumerate(sizes):
            async with conn.transaction():
                await trail.append_events(
                    conn,
                    tenant,
                    [
                        NewEvent("test.event", SYSTEM_ACTOR, uuid.uuid4(), {"batch": n, "i": i})
                        for i in range(size)
                    ],
                    occurred_at=datetime.now(UTC),
                    trace_id="",
                )


async def checkpoint(url: str, tenant: str, size: int) -> Checkpoint:
    """Signs the tenant's first `size` events as an honest server would."""
    async with await connect(url) as conn:
        events = [e async for e in trail.iter_events(conn, tenant)][:size]
    root = merkle.root(merkle.leaf_hash(e.canonical) for e in events)
    head = events[-1].hash
    note = (
        f"aval.v1/checkpoint\ntenant: {tenant}\ntree_size: {size}\nroot_hash: {root.hex()}\n"
        f"head_hash: {head.hex()}\n"
    ).encode()
    return Checkpoint(size, root, head, note, KEY.sign(note))


async def verify_now(url: str, tenant: str, checkpoints: list[Checkpoint]) -> verify.Report:
    async with await connect(url) as conn, conn.transaction():
        return await verify.verify_tenant(
            conn,
            tenant,
            checkpoints=checkpoints,
            signature_ok=signature_ok,
            parse_note=parse_note,
        )


# Each tampering takes (url, tenant, position, size) and changes the trail.
Tampering = Callable[[str, str, int, int], Awaitable[None]]


async def update_event(url: str, tenant: str, seq: int, assignment: str) -> None:
    """`UPDATE audit_events SET <assignment>` on one event, as a superuser would."""
    await as_superuser(
        url,
        (f"UPDATE audit_events SET {assignment} WHERE tenant_id = %s AND seq = %s", (tenant, seq)),
    )


async def edit_event(url: str, tenant: str, seq: int, size: int) -> None:
    await update_event(url, tenant, seq, "canonical = canonical || '\\x20'::bytea")


async def garble_event(url: str, tenant: str, seq: int, size: int) -> None:
    """Bytes that are not even UTF-8 JSON: the database cannot parse them either."""
    await update_event(url, tenant, seq, "canonical = '\\xfffe7b'::bytea")


async def reshape_event(url: str, tenant: str, seq: int, size: int) -> None:
    """Well-formed JSON, but no event: an array."""
    await update_event(url, tenant, seq, "canonical = convert_to('[\"pas\", 1]', 'UTF8')")


async def edit_column(url: str, tenant: str, seq: int, size: int) -> None:
    await update_event(url, tenant, seq, "actor_id = 'quelqu-un'")


async def delete_event(url: str, tenant: str, seq: int, size: int) -> None:
    await as_superuser(
        url, ("DELETE FROM audit_events WHERE tenant_id = %s AND seq = %s", (tenant, seq))
    )


async def insert_event(url: str, tenant: str, seq: int, size: int) -> None:
    """Makes room at `seq` and inserts a copy of the event found there, hashed on its own."""
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET seq = seq + 1000000 WHERE tenant_id = %s AND seq >= %s",
            (tenant, seq),
        ),
        (
            "UPDATE audit_events SET seq = seq - 1000000 + 1"
            " WHERE tenant_id = %s AND seq > 1000000",
            (tenant,),
        ),
        (
            "INSERT INTO audit_events SELECT tenant_id, %s, gen_random_uuid(), occurred_at,"
            " decision_id, kind, actor_id, actor_type, trace_id, schema_version, canonical,"
            " prev_hash, sha256(prev_hash || int8send(%s::bigint) || canonical)"
            " FROM audit_events WHERE tenant_id = %s AND seq = %s",
            (seq, seq, tenant, seq + 1),
        ),
        ("UPDATE chain_heads SET seq = seq + 1 WHERE tenant_id = %s", (tenant,)),
    )


async def swap_events(url: str, tenant: str, seq: int, size: int) -> None:
    other = seq + 1 if seq < size else seq - 1
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET seq = -seq WHERE tenant_id = %s AND seq IN (%s, %s)",
            (tenant, seq, other),
        ),
        (
            "UPDATE audit_events SET seq = CASE WHEN seq = -%s THEN %s ELSE %s END"
            " WHERE tenant_id = %s AND seq < 0",
            (seq, other, seq, tenant),
        ),
    )


async def truncate_tail(url: str, tenant: str, seq: int, size: int) -> None:
    """Cuts the events from `seq` on and moves the chain head back: the chain looks whole."""
    await as_superuser(
        url,
        ("DELETE FROM audit_events WHERE tenant_id = %s AND seq >= %s", (tenant, seq)),
        (
            "UPDATE chain_heads h SET seq = e.seq, hash = e.hash FROM audit_events e"
            " WHERE h.tenant_id = %s AND e.tenant_id = h.tenant_id AND e.seq = %s",
            (tenant, seq - 1),
        ),
    )


async def rewrite_consistently(url: str, tenant: str, seq: int, size: int) -> None:
    """Edits one event and recomputes every later hash and the head: only a signed checkpoint
    can tell."""
    await rewrite_from(url, tenant, seq, lambda canonical: canonical.replace(b'"i":', b'"i": ', 1))


# kind -> (tampering, the problem kinds that may name it; one of them must be reported)
TAMPERINGS: dict[str, tuple[Tampering, set[str]]] = {
    "edited event": (edit_event, {"hash_mismatch", "canonical_mismatch"}),
    "edited column": (edit_column, {"canonical_mismatch"}),
    "garbled bytes": (garble_event, {"hash_mismatch", "canonical_mismatch"}),
    "bytes of another shape": (reshape_event, {"hash_mismatch", "canonical_mismatch"}),
    "deleted event": (delete_event, {"sequence_gap", "broken_link", "head_mismatch"}),
    "inserted event": (insert_event, {"broken_link", "hash_mismatch", "rewritten_history"}),
    "reordered events": (swap_events, {"broken_link", "hash_mismatch"}),
    "truncated tail": (truncate_tail, {"truncated"}),
    "consistent rewrite": (rewrite_consistently, {"rewritten_history"}),
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_each_tampering_is_caught_and_named_I3(database_url: str, kind: str) -> None:
    tenant = f"tamper-{uuid.uuid4().hex[:8]}"
    tamper, expected = TAMPERINGS[kind]

    async def scenario() -> verify.Report:
        await make_history(database_url, tenant, [3, 1, 4, 2])
        signed = await checkpoint(database_url, tenant, 10)
        clean = await verify_now(database_url, tenant, [signed])
        assert clean.ok, clean.problems
        await tamper(database_url, tenant, 4, 10)
        return await verify_now(database_url, tenant, [signed])

    report = asyncio.run(scenario())
    kinds = {p.kind for p in report.problems}
    assert kinds & expected, f"{kind}: reported {report.problems}"
    named = [p for p in report.problems if p.kind in expected]
    assert all(p.tenant_id == tenant for p in named)
    assert any(p.seq in (4, 5, 10) for p in named), named


def test_a_forged_signature_is_caught_I3(database_url: str) -> None:
    tenant = f"tamper-{uuid.uuid4().hex[:8]}"

    async def scenario() -> verify.Report:
        await make_history(database_url, tenant, [5])
        honest = await checkpoint(database_url, tenant, 5)
        forged = Checkpoint(
            honest.tree_size, honest.root_hash, honest.head_hash, honest.signed_note, bytes(64)
        )
        return await verify_now(database_url, tenant, [forged])

    assert [p.kind for p in asyncio.run(scenario()).problems] == ["bad_signature"]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6),
    kind=st.sampled_from([None, *sorted(TAMPERINGS)]),
    where=st.floats(min_value=0, max_value=1),
)
def test_random_tampering_is_always_caught_and_honesty_never_flagged_I3(
    database_url: str, sizes: list[int], kind: str | None, where: float
) -> None:
    tenant = f"tamper-{uuid.uuid4().hex[:8]}"
    size = sum(sizes)

    async def scenario() -> verify.Report:
        await make_history(database_url, tenant, sizes)
        signed = [await checkpoint(database_url, tenant, size)]
        if kind is not None:
            tamper, _ = TAMPERINGS[kind]
            smallest = 2 if kind == "truncated tail" else 1
            if size < smallest or (kind == "reordered events" and size < 2):
                return await verify_now(database_url, tenant, signed)
            seq = smallest + int(where * (size - smallest))
            await tamper(database_url, tenant, seq, size)
        return await verify_now(database_url, tenant, signed)

    report = asyncio.run(scenario())
    skipped = kind is not None and size < 2 and kind in ("truncated tail", "reordered events")
    if kind is None or skipped:
        assert report.ok, report.problems
    else:
        assert not report.ok, f"{kind} at {where} of {sizes} went unseen"
