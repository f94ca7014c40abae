"""Merkle proofs (I3): `aval audit prove` and `aval audit consistency` check what they print."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from aval.v1 import audit_pb2
from aval.verifier import merkle
from tests.support import ServerProcess, token_of

from .helpers import all_events, propose_kwargs, run_cli

pytestmark = pytest.mark.e2e


@dataclass
class World:
    server: ServerProcess
    url: str
    first: audit_pb2.Checkpoint  # after the first decision of ville-a
    second: audit_pb2.Checkpoint  # after three more
    events: list[audit_pb2.AuditEvent]  # of ville-a, all under `second`

    def client(self, principal: str = "insp-a") -> Client:
        return Client(self.server.address, token_of(principal), timeout=20)

    def cli(self, *args: str, principal: str = "insp-a") -> tuple[int, str, str]:
        done = run_cli(self.server.address, principal, "audit", *args)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def world(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Its own database and gateway, two checkpoints of ville-a, and none of ville-b."""
    url = new_database()
    server = ServerProcess.start(
        url,
        tmp_path_factory.mktemp("e2e-proofs"),
        name="proofs",
        extra_env={"AVAL_CHECKPOINT_INTERVAL_SECONDS": "0"},  # only the checkpoints made here
    )
    with (
        Client(server.address, token_of("app-a")) as app,
        Client(server.address, token_of("sup-a1")) as sup,
        Client(server.address, token_of("insp-a")) as inspector,
        Client(server.address, token_of("app-b")) as app_b,
    ):
        decision = app.propose(**propose_kwargs("voirie.signalement")).decision
        first = inspector.create_checkpoint()
        sup.decide(decision.id, verdict="approve")
        app.propose(**propose_kwargs("voirie.signalement"))
        second = inspector.create_checkpoint()
        app_b.propose(**propose_kwargs("voirie.signalement"))
        events = all_events(inspector)
    assert 0 < first.tree_size < second.tree_size == len(events)
    yield World(server, url, first, second, events)
    status = server.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{server.log_path.read_text()}"


@contextlib.contextmanager
def superuser(url: str, table: str) -> Iterator[psycopg.Connection[Any]]:
    """Someone with full database access, the append-only triggers of `table` off."""
    with psycopg.connect(url) as conn:  # one transaction, committed on exit
        conn.execute(f"ALTER TABLE aval.{table} DISABLE TRIGGER USER")
        yield conn
        conn.execute(f"ALTER TABLE aval.{table} ENABLE TRIGGER USER")


@contextlib.contextmanager
def forged_root(world: World, tree_size: int, *, in_note: bool) -> Iterator[None]:
    """Replaces a checkpoint's root (and, with `in_note`, the root its signed note states)."""
    forged = merkle.node_hash(merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    select = "SELECT root_hash, signed_note FROM aval.checkpoints WHERE tenant_id = 'ville-a'"
    with psycopg.connect(world.url) as conn:
        row = conn.execute(f"{select} AND tree_size = %s", (tree_size,)).fetchone()
    assert row is not None
    root, note = bytes(row[0]), bytes(row[1])
    # The note states the root in base64 (a C2SP checkpoint).
    stated, forged_stated = base64.b64encode(root), base64.b64encode(forged)
    new_note = note.replace(stated, forged_stated) if in_note else note
    assert new_note != note or not in_note
    update = (
        "UPDATE aval.checkpoints SET root_hash = %s, signed_note = %s"
        " WHERE tenant_id = 'ville-a' AND tree_size = %s"
    )
    with superuser(world.url, "checkpoints") as conn:
        conn.execute(update, (forged, new_note, tree_size))
    try:
        yield
    finally:
        with superuser(world.url, "checkpoints") as conn:
            conn.execute(update, (root, note, tree_size))


def test_an_event_proven_by_seq_verifies_here_I3(world: World) -> None:
    status, out, err = world.cli("prove", "1")
    assert status == 0, err
    assert "Preuve vérifiée : l'événement n° 1 figure" in out
    assert f"{world.second.tree_size} événements" in out
    assert world.second.root_hash in out
    assert "Signature non vérifiée" in out
    assert err == ""


def test_an_event_proven_by_id_against_an_older_checkpoint_with_the_key_I3(world: World) -> None:
    event = world.events[0]
    status, out, err = world.cli(
        "prove",
        event.event_id,
        "--tree-size",
        str(world.first.tree_size),
        "--public-key",
        world.server.public_key.hex(),
        "--lang",
        "en",
    )
    assert status == 0, err
    assert f"Proof verified: event #1 is in the signed tree of {world.first.tree_size}" in out
    assert "Signature not checked" not in out


def test_every_event_has_a_proof_the_sdk_caller_can_check(world: World) -> None:
    with world.client() as inspector:
        for event in world.events:
            proof = inspector.prove_inclusion(seq=event.seq)
            assert proof.event == event
            assert proof.leaf_index == event.seq - 1
            assert proof.checkpoint == world.second
            root = bytes.fromhex(proof.checkpoint.root_hash)
            leaf = merkle.leaf_hash(event.canonical)
            path = list(proof.audit_path)
            assert merkle.verify_inclusion(
                leaf, proof.leaf_index, world.second.tree_size, path, root
            )


def test_json_output_says_whether_it_verified(world: World) -> None:
    status, out, err = world.cli("prove", "2", "--json")
    assert status == 0, err
    document = json.loads(out)
    assert document["verified"] is True and document["failure"] == ""
    assert int(document["leafIndex"]) == 1
    assert int(document["checkpoint"]["treeSize"]) == world.second.tree_size
    status, out, err = world.cli("consistency", str(world.first.tree_size), "0", "--json")
    assert status == 0, err
    assert json.loads(out)["verified"] is True


def test_the_trail_only_grew_between_two_checkpoints_I3(world: World) -> None:
    old, new = str(world.first.tree_size), str(world.second.tree_size)
    key = world.server.public_key.hex()
    status, out, err = world.cli("consistency", old, new, "--public-key", key)
    assert status == 0, err
    assert f"l'arbre de {new} événements prolonge celui de {old}" in out
    status, out, err = world.cli("consistency", old, "0")
    assert status == 0, err
    with world.client() as inspector:
        proof = inspector.prove_consistency(old_size=world.first.tree_size)
    assert proof.old_checkpoint == world.first and proof.new_checkpoint == world.second
    assert merkle.verify_consistency(
        world.first.tree_size,
        world.second.tree_size,
        bytes.fromhex(world.first.root_hash),
        bytes.fromhex(world.second.root_hash),
        list(proof.proof),
    )


def test_a_forged_root_fails_the_check_and_names_it_I3(world: World) -> None:
    size = str(world.second.tree_size)
    with forged_root(world, world.second.tree_size, in_note=True):
        status, out, err = world.cli("prove", "1")
        assert status == 1, out
        assert err.count("\n") == 1 and "preuve d'inclusion invalide" in err, err
        assert "Preuve vérifiée" not in out
        status, _, err = world.cli("prove", "1", "--public-key", world.server.public_key.hex())
        assert status == 1 and "signature invalide" in err, err
        status, _, err = world.cli("consistency", str(world.first.tree_size), size)
        assert status == 1 and "preuve de cohérence invalide" in err, err
        status, out, _ = world.cli("prove", "1", "--json")
        assert status == 1 and json.loads(out)["verified"] is False
    with forged_root(world, world.second.tree_size, in_note=False):
        status, _, err = world.cli("prove", "1", "--lang", "en")
        assert status == 1 and "root_hash" in err and "differs from its signed note" in err, err
    assert world.cli("prove", "1")[0] == 0, "the original checkpoint is back"


def test_an_edited_event_is_no_longer_in_the_signed_tree_I3(world: World) -> None:
    event = world.events[1]
    edited = event.canonical.replace(b'"kind":"', b'"kind":"x')
    update = "UPDATE aval.audit_events SET canonical = %s WHERE tenant_id = 'ville-a' AND seq = 2"
    with superuser(world.url, "audit_events") as conn:
        conn.execute(update, (edited,))
    try:
        status, _, err = world.cli("prove", "2", "--lang", "en")
        assert status == 1 and "invalid inclusion proof" in err and "#2" in err, err
        # Every other event's path now crosses the edited leaf too.
        assert world.cli("prove", "1")[0] == 1
        status, _, err = world.cli("consistency", str(world.first.tree_size), "0")
        assert status == 1 and "preuve de cohérence invalide" in err, err
    finally:
        with superuser(world.url, "audit_events") as conn:
            conn.execute(update, (event.canonical,))
    assert world.cli("prove", "2")[0] == 0


def test_refusals_say_what_to_do(world: World) -> None:
    after = str(world.first.tree_size + 1)
    status, _, err = world.cli("prove", after, "--tree-size", str(world.first.tree_size))
    assert status == 1 and "n'est pas couvert" in err and "aval audit checkpoint" in err, err
    status, _, err = world.cli("prove", "1", principal="insp-b")
    assert status == 1 and "aucun point de contrôle signé" in err, err
    status, _, err = world.cli("prove", "99")
    assert status == 1 and "aucun événement 99" in err, err
    status, _, err = world.cli("prove", "1", "--tree-size", "999")
    assert status == 1 and "999" in err, err
    status, _, err = world.cli("consistency", "0", "1")
    assert status == 2, err
    with world.client() as inspector:
        with pytest.raises(FailedPreconditionError) as refused:
            inspector.prove_inclusion(
                seq=world.first.tree_size + 1, tree_size=world.first.tree_size
            )
        assert refused.value.reason == "NOT_YET_CHECKPOINTED"
        with pytest.raises(NotFoundError) as missing:
            inspector.prove_inclusion(seq=world.second.tree_size + 1)
        assert missing.value.reason == "EVENT_NOT_FOUND"
        # No checkpoint of that size (never signed, or thinned by the retention rule): the
        # proof from the events, with no signed old checkpoint to check it against.
        unsigned = inspector.prove_consistency(old_size=world.first.tree_size + 1)
        assert unsigned.old_checkpoint.tree_size == world.first.tree_size + 1
        assert not unsigned.old_checkpoint.signed_note and unsigned.proof
        with pytest.raises(InvalidArgumentError) as bad:
            inspector.prove_consistency(old_size=world.second.tree_size + 1)
        assert [v.field for v in bad.value.violations] == ["old_size"]
        with pytest.raises(InvalidArgumentError):
            inspector.prove_inclusion()


def test_a_removed_event_is_reported_as_a_gap_I3(world: World) -> None:
    move = "UPDATE aval.audit_events SET seq = %s WHERE tenant_id = 'ville-a' AND seq = %s"
    with superuser(world.url, "audit_events") as conn:
        conn.execute(move, (10_000, 2))  # out of the checkpointed range: a hole at seq 2
    try:
        status, _, err = world.cli("prove", "1")
        assert status == 1 and "l'événement n° 2" in err and "manque" in err, err
        status, _, err = world.cli("consistency", str(world.first.tree_size), "0", "--lang", "en")
        assert status == 1 and "event 2" in err and "aval audit verify" in err, err
    finally:
        with superuser(world.url, "audit_events") as conn:
            conn.execute(move, (2, 10_000))
    assert world.cli("prove", "1")[0] == 0
