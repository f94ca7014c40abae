"""Signed checkpoints on real PostgreSQL: incremental roots, append-only rows, signatures (I3)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.audit_store import Store, checkpoints, trail
from aval.service.audit import checkpointing
from aval.service.audit.signing import Signer, generate_key_pair
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition, PermissionDenied
from aval.service.identity import Principal
from aval.service.requests import ListCheckpointsIn, TenantIn
from aval.service.settings import Settings
from aval.verifier import merkle, signed_note
from aval.verifier.chain import GENESIS_HASH, utc_iso
from aval.verifier.notes import (
    NoteFormatError,
    SigningKeyError,
    format_note,
    parse_note,
    read_public_key,
    verify_signature,
)

from .trail_access import append


async def root_from_scratch(store: Store, tenant: str) -> tuple[int, bytes, bytes]:
    """(size, RFC 9162 root, head hash) over every event of the tenant, read afresh."""
    async with store.reading() as conn:
        events = [e async for e in trail.iter_events(conn, tenant)]
    head = events[-1].hash if events else GENESIS_HASH
    return len(events), merkle.root(merkle.leaf_hash(e.canonical) for e in events), head


def witness_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def tenant() -> str:
    # A tenant of its own: the shared database's real tenants keep the e2e server's key.
    return f"ckpt-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def signer() -> Signer:
    return Signer.of(Ed25519PrivateKey.generate())


@pytest.fixture
def signing(deployment: Deployment, signer: Signer, tmp_path: Path) -> Iterator[Deployment]:
    """The shared deployment with a signing key and a witness file of this test's own.

    A deployment seals what its store appends with its key's seal key (`Deployment`): the
    shared store is given back its own sealer after, or later tests would find their events
    covered by no seal of theirs (`unsealed_events`), depending on the order tests run in.
    """
    settings = deployment.settings.model_copy(
        update={"witness_file": tmp_path / "witness" / "checkpoints.jsonl"}
    )
    sealer = deployment.store.sealer
    yield dataclasses.replace(deployment, settings=settings, signer=signer)
    deployment.store.sealer = sealer


def witness_of(deployment: Deployment) -> Path:
    return checkpointing.witness_path(deployment.settings)


async def test_incremental_compute_equals_a_root_over_all_events_I3(
    signing: Deployment, tenant: str
) -> None:
    store = signing.store
    # Sizes around powers of two, where the frontier's shape changes most.
    for grow in (1, 1, 1, 1, 4, 7, 1, 16, 33):
        await append(store, tenant, grow)
        record = await checkpointing.checkpoint_tenant(signing, tenant)
        size, root, head = await root_from_scratch(store, tenant)
        assert (record.tree_size, record.root_hash, record.head_hash) == (size, root, head)
        assert merkle.Frontier.from_bytes(record.frontier).root() == root
    # Read in small batches, from the latest checkpoint on, the same again.
    await append(store, tenant, 10)
    async with store.snapshot() as conn:
        computed = await checkpoints.compute(conn, tenant, batch=3)
    size, root, head = await root_from_scratch(store, tenant)
    assert computed[:3] == (size, root, head)
    async with store.reading() as conn:
        stored = await checkpoints.list_all(conn, tenant)
    assert [c.tree_size for c in stored] == [1, 2, 3, 4, 8, 15, 16, 32, 65]


async def test_compute_on_a_tenant_without_events_is_the_empty_tree(
    store: Store, tenant: str
) -> None:
    async with store.snapshot() as conn:
        size, root, head, frontier = await checkpoints.compute(conn, tenant)
    assert (size, root, head) == (0, merkle.EMPTY_ROOT, GENESIS_HASH)
    assert merkle.Frontier.from_bytes(frontier) == merkle.Frontier()


async def test_a_second_checkpoint_without_new_events_is_the_same_one(
    signing: Deployment, tenant: str
) -> None:
    await append(signing.store, tenant, 3)
    first = await checkpointing.checkpoint_tenant(signing, tenant)
    again = await checkpointing.checkpoint_tenant(signing, tenant)
    assert again == first
    async with signing.store.reading() as conn:
        assert await checkpoints.list_all(conn, tenant) == [first]
        assert await checkpoints.latest(conn, tenant) == first
        assert await checkpoints.at_size(conn, tenant, 3) == first
        assert await checkpoints.at_size(conn, tenant, 2) is None
    assert len(witness_lines(witness_of(signing))) == 1


async def test_the_signature_verifies_and_a_flipped_byte_does_not_I3(
    signing: Deployment, signer: Signer, tenant: str
) -> None:
    await append(signing.store, tenant, 5)
    record = await checkpointing.checkpoint_tenant(signing, tenant)
    assert verify_signature(signer.public_key_raw, record.signed_note, record.signature)
    assert parse_note(record.signed_note) == {
        "tenant": tenant,
        "tree_size": "5",
        "root_hash": record.root_hash.hex(),
        "head_hash": record.head_hash.hex(),
        "issued_at": utc_iso(record.issued_at),
        "origin": f"aval-{signer.key_id}/{tenant}",
    }
    # A C2SP checkpoint in a signed note, verified by the published verifier key string.
    assert record.signed_note.decode().startswith(f"aval-{signer.key_id}/{tenant}\n5\n")
    assert record.signed_note.endswith(b"\n")
    vkey = checkpointing.log_verifier_key(signing.settings, signer)
    assert vkey.text() == checkpointing.verifier_key_text(signing)
    assert signed_note.verify_note(record.note().encode(), [vkey]).text == record.signed_note
    for position in (0, len(record.signed_note) // 2, len(record.signed_note) - 1):
        note = bytearray(record.signed_note)
        note[position] ^= 0x01
        assert not verify_signature(signer.public_key_raw, bytes(note), record.signature)
    signature = bytearray(record.signature)
    signature[10] ^= 0x80
    assert not verify_signature(signer.public_key_raw, record.signed_note, bytes(signature))
    other = Signer.of(Ed25519PrivateKey.generate())
    assert not verify_signature(other.public_key_raw, record.signed_note, record.signature)


async def test_the_witness_gets_one_line_per_new_checkpoint(
    signing: Deployment, signer: Signer, tenant: str
) -> None:
    witness = witness_of(signing)
    made = []
    for grow in (2, 0, 3, 0, 0, 1):
        if grow:
            await append(signing.store, tenant, grow)
        made.append(await checkpointing.checkpoint_tenant(signing, tenant))
    lines = witness_lines(witness)
    assert [line["tree_size"] for line in lines] == [2, 5, 6]
    last, record = lines[-1], made[-1]
    assert last == {
        "tenant": tenant,
        "tree_size": 6,
        "root_hash": record.root_hash.hex(),
        "head_hash": record.head_hash.hex(),
        "issued_at": utc_iso(record.issued_at),
        "key_id": signer.key_id,
        "signed_note": base64.b64encode(record.signed_note).decode(),
        "signature": base64.b64encode(record.signature).decode(),
    }
    # The witness alone is enough to check a checkpoint.
    note = base64.b64decode(str(last["signed_note"]))
    assert verify_signature(signer.public_key_raw, note, base64.b64decode(str(last["signature"])))


async def test_replicas_signing_at_once_store_one_checkpoint_per_size(
    signing: Deployment, tenant: str
) -> None:
    await append(signing.store, tenant, 4)
    other_key = dataclasses.replace(signing, signer=Signer.of(Ed25519PrivateKey.generate()))
    results = await asyncio.gather(
        *(checkpointing.checkpoint_tenant(d, tenant) for d in [signing, other_key] * 3)
    )
    async with signing.store.reading() as conn:
        stored = await checkpoints.list_all(conn, tenant)
    assert len(stored) == 1
    assert all(r == stored[0] for r in results)
    assert len(witness_lines(witness_of(signing))) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE checkpoints SET tree_size = tree_size + 1000 WHERE tenant_id = %s",
        "UPDATE checkpoints SET signature = '\\x00'::bytea WHERE tenant_id = %s",
        "DELETE FROM checkpoints WHERE tenant_id = %s",
        "TRUNCATE checkpoints",
    ],
)
async def test_the_service_role_cannot_change_or_remove_checkpoints_I3(
    signing: Deployment, tenant: str, statement: str
) -> None:
    await append(signing.store, tenant, 2)
    record = await checkpointing.checkpoint_tenant(signing, tenant)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with signing.store.transaction() as conn:  # the pool acts as the service role
            await conn.execute(statement, (tenant,) if "%s" in statement else None)
    async with signing.store.reading() as conn:
        assert await checkpoints.list_all(conn, tenant) == [record]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE aval.checkpoints SET key_id = 'x' WHERE tenant_id = %s",
        "DELETE FROM aval.checkpoints WHERE tenant_id = %s",
    ],
)
async def test_even_the_owner_cannot_change_checkpoints_I3(
    database_url: str, signing: Deployment, tenant: str, statement: str
) -> None:
    await append(signing.store, tenant, 1)
    await checkpointing.checkpoint_tenant(signing, tenant)
    async with await psycopg.AsyncConnection.connect(database_url) as owner:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await owner.execute(statement, (tenant,))


async def test_a_broken_trail_is_never_signed_I3(
    database_url: str, signing: Deployment, tenant: str
) -> None:
    await append(signing.store, tenant, 3)
    await checkpointing.checkpoint_tenant(signing, tenant)
    await append(signing.store, tenant, 3)
    # What an attacker with full database access does: disable the guards, edit, restore.
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await conn.execute("ALTER TABLE aval.audit_events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE aval.audit_events SET canonical = canonical || ' '::bytea"
            " WHERE tenant_id = %s AND seq = 5",
            (tenant,),
        )
        await conn.execute("ALTER TABLE aval.audit_events ENABLE TRIGGER USER")
    with pytest.raises(FailedPrecondition) as refused:
        await checkpointing.checkpoint_tenant(signing, tenant)
    assert refused.value.reason == "TRAIL_BROKEN"
    assert refused.value.params["seq"] == 5
    assert "aval audit verify" in refused.value.text("en")
    async with signing.store.reading() as conn:
        assert [c.tree_size for c in await checkpoints.list_all(conn, tenant)] == [3]


async def test_create_checkpoint_needs_the_grant_and_a_key(
    signing: Deployment, deployment: Deployment, principals: dict[str, Principal]
) -> None:
    inspector, application = principals["insp-a"], principals["app-a"]
    with pytest.raises(PermissionDenied):
        await checkpointing.create_checkpoint(signing, application, TenantIn())
    with pytest.raises(PermissionDenied):  # no grant in ville-b (I5)
        await checkpointing.create_checkpoint(signing, inspector, TenantIn(tenant="ville-b"))
    assert deployment.signer is None
    with pytest.raises(FailedPrecondition) as refused:
        await checkpointing.create_checkpoint(deployment, inspector, TenantIn())
    assert refused.value.reason == "NO_SIGNING_KEY"
    assert "AVAL_SIGNING_KEY_FILE" in refused.value.text("en")
    assert "aval keys generate" in refused.value.text("fr")
    # Listing needs no key: the stored checkpoints stay readable.
    _, public_key = await checkpointing.list_checkpoints(deployment, inspector, ListCheckpointsIn())
    assert public_key == ""


@pytest.fixture
async def fresh(
    new_database: Callable[..., str], deployment: Deployment, signer: Signer, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """A deployment on a database of its own, for what looks at every tenant."""
    store = Store(new_database(), min_size=1, max_size=4)
    await store.open()
    settings = deployment.settings.model_copy(update={"witness_file": tmp_path / "w.jsonl"})
    yield dataclasses.replace(deployment, store=store, settings=settings, signer=signer)
    await store.close()


async def test_the_periodic_round_signs_only_tenants_with_new_events(fresh: Deployment) -> None:
    await append(fresh.store, "ville-x", 2)
    await append(fresh.store, "ville-y", 1)
    assert await checkpointing.checkpoint_due_tenants(fresh) == 2
    assert await checkpointing.checkpoint_due_tenants(fresh) == 0
    await append(fresh.store, "ville-y", 1)
    assert await checkpointing.checkpoint_due_tenants(fresh) == 1
    lines = witness_lines(witness_of(fresh))
    assert [(line["tenant"], line["tree_size"]) for line in lines] == [
        ("ville-x", 2),
        ("ville-y", 1),
        ("ville-y", 2),
    ]


async def test_the_periodic_task_runs_until_cancelled(fresh: Deployment) -> None:
    settings = fresh.settings.model_copy(update={"checkpoint_interval_seconds": 0.05})
    running = dataclasses.replace(fresh, settings=settings)
    await append(fresh.store, "ville-z", 3)
    task = checkpointing.start_periodic(running)
    assert task is not None
    try:
        for _ in range(100):
            async with fresh.store.reading() as conn:
                if await checkpoints.latest(conn, "ville-z") is not None:
                    break
            await asyncio.sleep(0.05)
    finally:
        await checkpointing.stop_periodic(task)
    assert task.done()
    async with fresh.store.reading() as conn:
        latest = await checkpoints.latest(conn, "ville-z")
    assert latest is not None and latest.tree_size == 3
    disabled = fresh.settings.model_copy(update={"checkpoint_interval_seconds": 0})
    assert checkpointing.start_periodic(dataclasses.replace(fresh, settings=disabled)) is None
    assert checkpointing.start_periodic(dataclasses.replace(running, signer=None)) is None


def test_the_demo_creates_its_key_once_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = checkpointing.settle_signing_key(settings, demo_mode=True)
    key_file = tmp_path / "keys" / "aval-signing.key"
    assert first.signing_key_file == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    again = checkpointing.settle_signing_key(settings, demo_mode=True)
    assert again.signing_key_file == key_file and key_file.read_bytes() == pem
    signer = checkpointing.load_signer(again)
    assert signer is not None
    public_text = (tmp_path / "keys" / "aval-signing.pub").read_text()
    assert read_public_key(public_text) == signer.public_key_raw
    assert public_text.splitlines()[0] == signer.public_key_hex
    # Outside the demo, no key means none (a warning, and refused checkpoint calls).
    plain = checkpointing.settle_signing_key(Settings(data_dir=tmp_path / "x"), demo_mode=False)
    assert checkpointing.load_signer(plain) is None


def test_the_key_comes_from_a_file_or_from_pem_text_and_is_never_shown(tmp_path: Path) -> None:
    made = generate_key_pair(tmp_path)
    pem = made.private_key_file.read_text()
    from_file = checkpointing.load_signer(Settings(signing_key_file=made.private_key_file))
    from_text = checkpointing.load_signer(Settings(signing_key=pem))  # type: ignore[arg-type]
    assert from_file is not None and from_text is not None
    assert from_file.key_id == from_text.key_id == made.key_id
    assert made.key_id == hashlib.sha256(from_file.public_key_raw).hexdigest()[:16]
    assert "PRIVATE" not in repr(from_file) and "PRIVATE" not in repr(Settings(signing_key=pem))  # type: ignore[arg-type]
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="aval keys generate"):
        checkpointing.load_signer(Settings(signing_key_file=tmp_path / "bad.pem"))
    with pytest.raises(SigningKeyError, match="cannot read"):
        checkpointing.load_signer(Settings(signing_key_file=tmp_path / "missing.pem"))
    with pytest.raises(FileExistsError):
        generate_key_pair(tmp_path)


@pytest.mark.parametrize(
    "change",
    [
        lambda n: n.replace(b"aval.v1/checkpoint", b"aval.v2/checkpoint"),
        lambda n: n.rstrip(b"\n"),
        lambda n: n + b"extra: 1\n",
        lambda n: n.replace(b"tree_size: ", b"tree_size:  "),
        lambda n: n.replace(b"\n", b"\r\n"),
        lambda n: b"\n".join([n.split(b"\n")[0], *reversed(n.split(b"\n")[1:-1])]) + b"\n",
    ],
)
def test_parse_note_reads_only_the_exact_format(change: Callable[[bytes], bytes]) -> None:
    note = format_note(
        {
            "tenant": "ville-a",
            "tree_size": 12,
            "root_hash": "ab" * 32,
            "head_hash": "cd" * 32,
            "issued_at": "2026-03-12T13:00:00.000000Z",
            "key_id": "0123456789abcdef",
        }
    )
    assert note == (
        b"aval.v1/checkpoint\ntenant: ville-a\ntree_size: 12\nroot_hash: "
        + b"ab" * 32
        + b"\nhead_hash: "
        + b"cd" * 32
        + b"\nissued_at: 2026-03-12T13:00:00.000000Z\nkey_id: 0123456789abcdef\n"
    )
    assert parse_note(note)["tree_size"] == "12"
    with pytest.raises(NoteFormatError):
        parse_note(change(note))
