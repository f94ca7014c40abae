"""A witness another authority runs (`aval witness serve`, its own process, real HTTP) cosigns
Aval's checkpoints, refuses a split view, and verification enforces the witness policy."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from aval.clients import Client
from aval.verifier import merkle, signed_note
from tests.support import TEST_SIGNING_KEY, ServerProcess, clients_of

from .helpers import propose_kwargs, run_cli, wait_until
from .witnesses import (
    LOG_KEY,
    LOG_NAME,
    NO_SERVER,
    ORIGIN,
    WITNESS_NAME,
    WitnessProcess,
    start_witness,
    start_witnessed_server,
)


@dataclass
class World:
    server: ServerProcess
    witness: WitnessProcess
    other_key: str  # a witness key that never cosigns
    client_of: Callable[[str], Client]
    url: str
    folder: Path
    key_file: Path
    logs: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.server.address, "insp-a", *args)

    def grow_and_checkpoint(self, events: int) -> int:
        for _ in range(events):
            self.client_of("app-a").propose(**propose_kwargs("voirie.signalement"))
        done = self.cli("--json", "audit", "checkpoint")
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["treeSize"])

    def latest_note(self) -> str:
        listed = json.loads(self.cli("--json", "audit", "checkpoints").stdout)
        return str(listed["checkpoints"][-1]["note"])

    def wait_cosigned(self, size: int) -> str:
        def cosigned() -> bool:
            note = self.latest_note()
            return f"\n{size}\n" in note and WITNESS_NAME in note

        wait_until(cosigned, 30, f"the witness cosigns tree size {size}")
        return self.latest_note()


@pytest.fixture(scope="module")
def world(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("witness")
    url = new_database()
    started = start_witnessed_server(folder, url)
    server, witness = started.server, started.witness
    other_key, key_file, logs = started.other_key, started.key_file, started.logs
    try:
        for client_of in clients_of(server):
            world = World(server, witness, other_key, client_of, url, folder, key_file, logs)
            yield world
    finally:
        assert server.stop() == 0, server.log_path.read_text()
        assert world.witness.stop() == 0


def post(witness: WitnessProcess, body: bytes) -> httpx.Response:
    return httpx.post(f"{witness.url}/add-checkpoint", content=body, timeout=10)


def forged_note(size: int, salt: bytes) -> tuple[bytes, list[bytes]]:
    """A checkpoint of another history, signed with the log's own key, and its leaves."""
    leaves = [merkle.leaf_hash(salt + b"%d" % i) for i in range(size)]
    text = signed_note.Checkpoint(ORIGIN, size, merkle.root(leaves)).encode()
    line = signed_note.sign_line(LOG_NAME, LOG_KEY.public_key, text, TEST_SIGNING_KEY.sign)
    return signed_note.Note(text, (line,)).encode(), leaves


def test_the_witness_cosigns_each_new_checkpoint_over_http(world: World) -> None:
    witness_key = signed_note.parse_verifier_key(world.witness.key)
    previous = 0
    for grow in (2, 3, 1):
        size = world.grow_and_checkpoint(grow)
        assert size > previous
        note = world.wait_cosigned(size)
        verified = signed_note.verify_note(note.encode(), [LOG_KEY, witness_key])
        assert [key for key, _ in verified.signed_by] == [LOG_KEY, witness_key]
        timestamp = verified.signed_by[1][1]
        assert abs(timestamp - time.time()) < 120
        previous = size
    assert "unknown" not in (world.folder / "witness.log").read_text()


def test_the_witness_refuses_a_split_view_signed_with_the_log_key(world: World) -> None:
    size = world.grow_and_checkpoint(1)
    world.wait_cosigned(size)
    # Another history of the same size, signed by the log's key: 409, not cosigned.
    note, _ = forged_note(size, b"fork ")
    refused = post(world.witness, b"old %d\n\n" % size + note)
    assert refused.status_code == 409 and "split view" in refused.text
    # A larger other history whose proof cannot start from what the witness saw: 422.
    bigger, leaves = forged_note(size + 3, b"fork ")
    proof = merkle.consistency_proof(size, leaves)
    lines = b"".join(base64.b64encode(h) + b"\n" for h in proof)
    refused = post(world.witness, b"old %d\n" % size + lines + b"\n" + bigger)
    assert refused.status_code == 422
    # A stale old size: 409 with the size it last cosigned.
    stale = post(world.witness, b"old 0\n\n" + bigger)
    assert stale.status_code == 409 and stale.text == f"{size}\n"
    assert stale.headers["content-type"] == "text/x.tlog.size"
    # Not the log's key: 403; an origin it does not follow: 404; not a request: 400.
    stranger = note.replace(note[note.index("\u2014".encode()) :], b"")
    assert (
        post(world.witness, b"old 0\n\n" + stranger + "\u2014 x AAAAAAA=\n".encode()).status_code
        == 403
    )
    assert (
        post(world.witness, b"old 0\n\n" + note.replace(b"/ville-a\n", b"/x/y\n")).status_code
        == 404
    )
    assert post(world.witness, b"old zero\n\n" + note).status_code == 400
    # The real log still gets cosigned after the refusals.
    after = world.grow_and_checkpoint(2)
    world.wait_cosigned(after)


def test_aval_follows_the_size_the_witness_answers_in_a_409(world: World) -> None:
    size = world.grow_and_checkpoint(1)
    world.wait_cosigned(size)
    # Aval's record of what the witness cosigned is lost (a superuser, triggers off): it
    # submits from size 0, the witness answers 409 with its size, Aval proves from there.
    with psycopg.connect(world.url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM aval.checkpoint_cosignatures")
    after = world.grow_and_checkpoint(2)
    world.wait_cosigned(after)
    log = world.server.log_path.read_text()
    assert re.search(rf"witness préfecture cosigned ville-a at tree size {after}", log), log


def test_verification_enforces_the_witness_policy_online_and_offline(world: World) -> None:
    size = world.grow_and_checkpoint(1)
    world.wait_cosigned(size)
    own, other = world.witness.key, world.other_key
    done = world.cli("audit", "verify", "--witness", own)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Témoins : le point de contrôle de {size} événement(s) est contresigné" in done.stdout
    done = world.cli("--json", "audit", "verify", "--witness", own, "--witness", other)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert int(report["witnessedTreeSize"]) == size
    for policy in (
        ["--witness", other],
        ["--witness", own, "--witness", other, "--witness-quorum", "2"],
    ):
        done = world.cli("audit", "verify", *policy)
        assert done.returncode == 1 and "witness_quorum_not_met" in done.stdout + done.stderr
    bad = world.cli("audit", "verify", "--witness", LOG_KEY.text())
    assert bad.returncode == 1 and "0x04" in bad.stderr

    bundle = world.folder / "bundle"
    exported = world.cli("audit", "export", "--tenant", "ville-a", "--bundle", str(bundle))
    assert exported.returncode == 0, exported.stderr

    def offline(*policy: str) -> subprocess.CompletedProcess[str]:
        key = LOG_KEY.text()
        return run_cli(
            NO_SERVER,
            None,
            "audit",
            "verify",
            "--offline",
            str(bundle),
            "--public-key",
            key,
            *policy,
        )

    done = offline("--witness", own)
    assert done.returncode == 0, done.stdout + done.stderr
    done = offline("--witness", other)
    assert done.returncode == 1 and "witness_quorum_not_met" in done.stdout
    done = offline("--witness", own, "--witness", other, "--witness-quorum", "2")
    assert done.returncode == 1 and "witness_quorum_not_met" in done.stdout
    done = offline("--witness", own, "--witness-quorum", "3")
    assert done.returncode == 1 and "--witness-quorum" in done.stderr
    # A cosignature changed in the bundle: named, and the quorum is no longer met.
    path = bundle / "checkpoints.jsonl"
    lines = path.read_text().splitlines()
    last = json.loads(lines[-1])
    witness_line = next(line for line in last["note"].split("\n") if WITNESS_NAME in line)
    encoded = witness_line.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    last["note"] = last["note"].replace(encoded, base64.b64encode(bytes(raw)).decode())
    lines[-1] = json.dumps(last, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    done = offline("--witness", own)
    assert done.returncode == 1
    assert "bad_cosignature" in done.stdout and "witness_quorum_not_met" in done.stdout


def test_a_witness_back_from_an_outage_gets_the_latest_checkpoint(world: World) -> None:
    listen = world.witness.url.removeprefix("http://")
    assert world.witness.stop() == 0
    size = world.grow_and_checkpoint(2)  # signed while the witness is down: never held up
    wait_until(
        lambda: f"ville-a/{size} to witness préfecture" in world.server.log_path.read_text(),
        30,
        "the failed submission is logged",
    )
    world.witness = start_witness(world.folder, world.key_file, world.logs, listen)
    # Nothing new is signed: the server submits its latest checkpoint again by itself.
    world.wait_cosigned(size)
