"""Signed checkpoints through the real server and the `aval` command line (I3)."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError, InvalidArgumentError
from aval.verifier import signed_note
from aval.verifier.notes import parse_note, read_public_key, verify_signature
from tests.support import TEST_SIGNING_KEY, ServerProcess, token_of

from .conftest import ClientOf
from .helpers import propose_kwargs, run_cli, wait_until

pytestmark = pytest.mark.e2e


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """The standard output of a command that must have succeeded."""
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


def test_aval_audit_checkpoint_then_checkpoints(server: ServerProcess, client_of: ClientOf) -> None:
    client_of("app-a").propose(**propose_kwargs("voirie.signalement"))
    assert server.public_key == TEST_SIGNING_KEY.public_key_raw

    text = ok(run_cli(server.address, "insp-a", "audit", "checkpoint"))
    assert text.startswith("Point de contrôle signé\n"), text
    assert re.search(r"^Collectivité\s+ville-a$", text, re.M), text
    assert re.search(r"^Taille\s+\d+ événement\(s\)$", text, re.M), text
    assert re.search(r"^Racine\s+[0-9a-f]{64}$", text, re.M), text
    assert re.search(rf"^Clé\s+{TEST_SIGNING_KEY.key_id}$", text, re.M), text
    assert re.search(r"^Signé le\s+\d{4}-\d\d-\d\dT", text, re.M), text

    made = json.loads(ok(run_cli(server.address, "insp-a", "--json", "audit", "checkpoint")))
    note = base64.b64decode(made["signedNote"])
    signature = base64.b64decode(made["signature"])
    assert verify_signature(server.public_key, note, signature)
    fields = parse_note(note)
    assert fields["tenant"] == made["tenant"] == "ville-a"
    assert fields["tree_size"] == made["treeSize"]
    assert fields["root_hash"] == made["rootHash"] and fields["head_hash"] == made["headHash"]
    assert made["keyId"] == TEST_SIGNING_KEY.key_id
    # A C2SP checkpoint in a signed note, which the published verifier key string verifies.
    vkey = signed_note.parse_verifier_key(made["verifierKey"])
    assert vkey.public_key == server.public_key and made["origin"] == f"{vkey.name}/ville-a"
    assert fields["origin"] == made["origin"]
    assert signed_note.verify_note(made["note"].encode(), [vkey]).text == note

    listed = json.loads(ok(run_cli(server.address, "insp-a", "--json", "audit", "checkpoints")))
    assert listed["publicKey"] == server.public_key.hex()
    sizes = [int(c["treeSize"]) for c in listed["checkpoints"]]
    assert sizes == sorted(set(sizes)), "oldest first, one per size"
    assert made in listed["checkpoints"]
    for checkpoint in listed["checkpoints"]:
        assert verify_signature(
            bytes.fromhex(listed["publicKey"]),
            base64.b64decode(checkpoint["signedNote"]),
            base64.b64decode(checkpoint["signature"]),
        )

    table = ok(run_cli(server.address, "insp-a", "--lang", "en", "audit", "checkpoints"))
    assert table.splitlines()[0].split() == ["SIZE", "SIGNED", "ON", "KEY", "ROOT"]
    assert made["rootHash"] in table
    assert f"Public key: {server.public_key.hex()}\n" in table
    assert table.rstrip().endswith(f"Verifier key (C2SP): {made['verifierKey']}")


def test_the_newest_checkpoints_only_and_a_bundle_carries_the_latest(
    server: ServerProcess, client_of: ClientOf, tmp_path: Path
) -> None:
    """A busy tenant has a checkpoint every few seconds: readers ask for the few they need,
    and a bundle carries the latest alone, which covers every event it holds."""
    inspector = client_of("insp-a")
    for _ in range(3):
        client_of("app-a").propose(**propose_kwargs("voirie.signalement"))
        inspector.create_checkpoint()
    every = inspector.list_checkpoints().checkpoints
    assert len(every) >= 3
    newest = inspector.list_checkpoints(newest=2).checkpoints
    assert [c.tree_size for c in newest] == [c.tree_size for c in every[-2:]], "oldest first"
    assert list(inspector.list_checkpoints(newest=1).checkpoints) == [every[-1]]
    with pytest.raises(InvalidArgumentError, match="newest"):
        inspector.list_checkpoints(newest=-1)

    folder = tmp_path / "whole"
    ok(run_cli(server.address, "insp-a", "audit", "export", "--bundle", str(folder)))
    carried = [json.loads(line) for line in (folder / "checkpoints.jsonl").read_text().splitlines()]
    assert len(carried) == 1 and carried[0]["tree_size"] >= every[-1].tree_size
    key = server.public_key.hex()
    verified = run_cli(
        "127.0.0.1:9", None, "audit", "verify", "--offline", str(folder), "--public-key", key
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_only_inspectors_sign_checkpoints_I5(server: ServerProcess) -> None:
    done = run_cli(server.address, "app-a", "audit", "checkpoint")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("erreur: action non autorisée"), done.stderr
    elsewhere = run_cli(server.address, "insp-a", "audit", "checkpoint", "--tenant", "ville-b")
    assert elsewhere.returncode == 1, elsewhere.stderr


def test_without_a_key_checkpoints_are_refused_with_the_fix(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess.start(database_url, tmp_path, name="no-key", signing_key=False)
    try:
        with Client(server.address, token_of("insp-a"), timeout=20, language="en") as inspector:
            with pytest.raises(FailedPreconditionError) as refused:
                inspector.create_checkpoint()
            assert refused.value.reason == "NO_SIGNING_KEY"
            assert "AVAL_SIGNING_KEY_FILE" in refused.value.message
            assert "aval keys generate" in refused.value.message
            # What was signed before stays readable; there is just no key to show.
            assert inspector.list_checkpoints().public_key == ""
        done = run_cli(server.address, "insp-a", "audit", "checkpoint")
        assert done.returncode == 1 and done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("erreur: la passerelle ne peut pas signer : "), lines[0]
        assert "AVAL_SIGNING_KEY_FILE" in lines[0] and "aval keys generate" in lines[0]
    finally:
        status = server.stop()
    log = server.log_path.read_text()
    assert status == 0, log
    assert "no checkpoint signing key" in log


def test_a_generated_key_signs_on_schedule_with_several_workers(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    generated = ok(run_cli("unused:1", None, "keys", "generate", "--out", str(tmp_path / "k")))
    key_file = tmp_path / "k" / "aval-signing.key"
    assert f"export AVAL_SIGNING_KEY_FILE={key_file.resolve()}" in generated
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public_key = read_public_key((tmp_path / "k" / "aval-signing.pub").read_text())
    again = run_cli("unused:1", None, "keys", "generate", "--out", str(tmp_path / "k"))
    assert again.returncode == 1 and "une clé existe déjà" in again.stderr

    # The key as PEM text, through the settings each worker process receives.
    server = ServerProcess.start(
        new_database(),
        tmp_path / "config",
        name="scheduled",
        signing_key=False,
        extra_env={
            "AVAL_SIGNING_KEY": key_file.read_text(),
            "AVAL_WORKERS": "2",
            "AVAL_CHECKPOINT_INTERVAL_SECONDS": "0.3",
        },
    )
    try:
        with (
            Client(server.address, token_of("app-a"), timeout=20) as app,
            Client(server.address, token_of("insp-a"), timeout=20) as inspector,
        ):
            app.propose(**propose_kwargs("voirie.signalement"))
            events = len(inspector.query_events().events)

            def signed_all() -> bool:
                found = inspector.list_checkpoints().checkpoints
                return bool(found) and found[-1].tree_size == events

            wait_until(signed_all, 20, "a periodic checkpoint of every event")
            listed = inspector.list_checkpoints()
            assert listed.public_key == public_key.hex()
            last = listed.checkpoints[-1]
            assert verify_signature(public_key, last.signed_note, last.signature)
            assert inspector.create_checkpoint() == last  # nothing new: the same checkpoint
    finally:
        assert server.stop() == 0, server.log_path.read_text()
    witness = (tmp_path / "config" / "data" / "witness" / "checkpoints.jsonl").read_text()
    assert [json.loads(line)["tree_size"] for line in witness.splitlines()] == [events]
