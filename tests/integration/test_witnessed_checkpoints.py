"""C2SP checkpoints on real PostgreSQL: first-format notes stay verifiable, cosignatures are
append-only, and a witness that never answers holds up nothing."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.audit_store import checkpoints, cosignatures
from aval.audit_store.checkpoints import CheckpointRecord
from aval.service.audit import checkpointing, verification
from aval.service.audit.signing import Signer
from aval.service.audit.witnessing import ConfiguredWitness, WitnessSubmitter
from aval.service.clock import MovableClock
from aval.service.deployment import Deployment
from aval.verifier import signed_note
from aval.verifier.chain import utc_iso
from aval.verifier.notes import format_note, raw_public_key

from .trail_access import append, as_superuser


@pytest.fixture
def tenant() -> str:
    return f"wit-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def signing(deployment: Deployment, tmp_path: Path) -> Iterator[Deployment]:
    settings = deployment.settings.model_copy(
        update={"witness_file": tmp_path / "witness" / "checkpoints.jsonl"}
    )
    signer = Signer.of(Ed25519PrivateKey.generate())
    sealer = deployment.store.sealer  # given back after: the store is shared (test_checkpoints)
    yield dataclasses.replace(deployment, settings=settings, signer=signer)
    deployment.store.sealer = sealer


async def first_format_checkpoint(signing: Deployment, tenant: str) -> CheckpointRecord:
    """A checkpoint as Aval signed them before C2SP notes (`aval.v1/checkpoint`), stored."""
    signer = signing.signer
    assert signer is not None
    async with signing.store.snapshot() as conn:
        size, root, head, frontier = await checkpoints.compute(conn, tenant)
    issued = signing.clock.now()
    note = format_note(
        {
            "tenant": tenant,
            "tree_size": size,
            "root_hash": root.hex(),
            "head_hash": head.hex(),
            "issued_at": utc_iso(issued),
            "key_id": signer.key_id,
        }
    )
    record = CheckpointRecord(
        tenant, size, root, head, issued, signer.key_id, note, signer.sign(note), frontier
    )
    async with signing.store.transaction() as conn:
        assert await checkpoints.insert(conn, record)
    return record


async def test_first_format_and_c2sp_checkpoints_verify_together_I3(
    signing: Deployment, tenant: str, database_url: str
) -> None:
    await append(signing.store, tenant, 3)
    old = await first_format_checkpoint(signing, tenant)
    await append(signing.store, tenant, 4)
    new = await checkpointing.checkpoint_tenant(signing, tenant)
    assert old.note() == "" and old.origin == ""
    assert new.signed_note.startswith(f"aval-{new.key_id}/{tenant}\n7\n".encode())
    report = await verification.verify_tenant_trail(signing, tenant)
    assert report.ok and report.checkpoints_checked == 2, report.problems
    # The first-format note is still read: a root changed in it is named.
    forged = old.signed_note.replace(old.root_hash.hex().encode(), b"0" * 64)
    await as_superuser(
        database_url,
        (
            "UPDATE checkpoints SET signed_note = %s WHERE tenant_id = %s AND tree_size = 3",
            (forged, tenant),
        ),
        tables=("checkpoints",),
    )
    report = await verification.verify_tenant_trail(signing, tenant)
    assert {(p.kind, p.seq) for p in report.problems} == {
        ("bad_signature", 3),
        ("checkpoint_mismatch", 3),
    }


@pytest.mark.parametrize(
    "edit", ["issued_at = issued_at - interval '40 days'", "key_id = '0123456789abcdef'"]
)
async def test_a_stored_signing_time_or_key_other_than_the_signed_ones_is_named_I3(
    signing: Deployment, tenant: str, database_url: str, edit: str
) -> None:
    """`issued_at` and `key_id` are shown (ListCheckpoints), `issued_at` read by the retention
    rule: the note says both (the first format), or says the time and its signature proves the
    key (C2SP); a superuser's edit of either, in either format, is named."""
    await append(signing.store, tenant, 3)
    await first_format_checkpoint(signing, tenant)
    await append(signing.store, tenant, 4)
    await checkpointing.checkpoint_tenant(signing, tenant)
    assert (await verification.verify_tenant_trail(signing, tenant)).ok
    await as_superuser(
        database_url,
        (f"UPDATE checkpoints SET {edit} WHERE tenant_id = %s", (tenant,)),
        tables=("checkpoints",),
    )
    report = await verification.verify_tenant_trail(signing, tenant)
    assert {(p.kind, p.seq) for p in report.problems} == {
        ("checkpoint_mismatch", 3),
        ("checkpoint_mismatch", 7),
    }


async def test_a_checkpoint_dated_ahead_of_the_servers_time_is_named_I3(
    signing: Deployment, tenant: str, database_url: str
) -> None:
    """Signed by a clock two days ahead (or a row inserted with the service's role: the
    database cannot check a signature), a checkpoint would let thinning drop what the rule
    keeps today (migration 0029 trusts the latest signing time): verification names it, by
    this server's clock, and not one signed within the replicas' tolerance."""
    await append(signing.store, tenant, 3)
    await checkpointing.checkpoint_tenant(signing, tenant)
    await append(signing.store, tenant, 2)
    within = dataclasses.replace(signing, clock=MovableClock(timedelta(minutes=4)))
    await checkpointing.checkpoint_tenant(within, tenant)
    assert (await verification.verify_tenant_trail(signing, tenant)).ok
    await append(signing.store, tenant, 1)
    ahead = dataclasses.replace(signing, clock=MovableClock(timedelta(days=2)))
    await checkpointing.checkpoint_tenant(ahead, tenant)
    report = await verification.verify_tenant_trail(signing, tenant)
    assert [(p.kind, p.seq) for p in report.problems] == [("checkpoint_from_future", 6)]
    assert "after this server's time" in report.problems[0].detail
    # By the clock that signed it, nothing is wrong.
    assert (await verification.verify_tenant_trail(ahead, tenant)).ok
    # A row inserted with a forged signature and a date years ahead: named both ways.
    forged = dataclasses.replace(
        await checkpointing.checkpoint_tenant(ahead, tenant), signature=bytes(64)
    )
    assert forged.tree_size == 6  # nothing new to sign: the same checkpoint comes back
    await append(signing.store, tenant, 1)
    async with signing.store.snapshot() as conn:
        size, root, head, frontier = await checkpoints.compute(conn, tenant)
    years = signing.clock.now() + timedelta(days=365 * 30)
    note = forged.signed_note.replace(b"\n6\n", b"\n7\n")
    async with signing.store.transaction() as conn:
        assert await checkpoints.insert(
            conn,
            dataclasses.replace(
                forged,
                tree_size=size,
                root_hash=root,
                head_hash=head,
                issued_at=years,
                signed_note=note,
                frontier=frontier,
            ),
        )
    kinds = {
        (p.kind, p.seq) for p in (await verification.verify_tenant_trail(signing, tenant)).problems
    }
    assert {
        ("checkpoint_from_future", 6),
        ("checkpoint_from_future", 7),
        ("bad_signature", 7),
    } <= kinds


async def test_cosignatures_cannot_be_changed_or_removed_by_the_service(
    signing: Deployment, tenant: str
) -> None:
    await append(signing.store, tenant, 2)
    record = await checkpointing.checkpoint_tenant(signing, tenant)
    line = signed_note.SignatureLine("w.example/t", b"\x01\x02\x03\x04", bytes(72))
    async with signing.store.transaction() as conn:
        assert await cosignatures.insert(conn, tenant, 2, [line], signing.clock.now()) == 1
        assert await cosignatures.insert(conn, tenant, 2, [line], signing.clock.now()) == 0
    async with signing.store.reading() as conn:
        [attached] = await cosignatures.attach(conn, [record])
    assert attached.cosignatures == (line,)
    assert attached.note().endswith(line.text())
    for statement in (
        "UPDATE checkpoint_cosignatures SET signature = '\\x00'::bytea WHERE tenant_id = %s",
        "DELETE FROM checkpoint_cosignatures WHERE tenant_id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with signing.store.transaction() as conn:
                await conn.execute(statement, (tenant,))


@pytest.fixture
def silent_witness() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


async def test_a_witness_that_never_answers_holds_up_no_checkpoint(
    signing: Deployment, tenant: str, silent_witness: str
) -> None:
    key = Ed25519PrivateKey.generate()
    witness = ConfiguredWitness(
        "silent",
        silent_witness,
        signed_note.VerifierKey(
            "silent.example/t", signed_note.COSIGNATURE_V1, raw_public_key(key.public_key())
        ),
    )
    submitter = WitnessSubmitter(signing.store, [witness], signing.clock, timeout=60, attempts=1)
    witnessed = dataclasses.replace(signing, witnesses=submitter)
    try:
        await append(signing.store, tenant, 2)
        first = await checkpointing.checkpoint_tenant(witnessed, tenant)
        await append(signing.store, tenant, 1)
        second = await checkpointing.checkpoint_tenant(witnessed, tenant)
        # Both signed and stored while the witness has answered nothing.
        assert (first.tree_size, second.tree_size) == (2, 3)
        assert len(submitter._tasks) == 2
        async with signing.store.reading() as conn:
            assert await cosignatures.acknowledged_sizes(conn, tenant) == {}
    finally:
        await submitter.aclose()
