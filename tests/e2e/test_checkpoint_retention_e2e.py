"""Checkpoint retention (docs/signing.md) through the real server: days of checkpoints thinned to
what the rule keeps, in the database and the witness file; verification intact; a checkpoint
the rule keeps, deleted by a superuser, still named; a bundle exported before still verifying."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from aval.clients import Client
from aval.v1 import audit_pb2
from aval.verifier.retention import RetainedPoint, retained
from tests.support import ClockFile, ServerProcess, token_of

from .helpers import propose_kwargs, run_cli, superuser, wait_until

pytestmark = pytest.mark.e2e

NO_SERVER = "127.0.0.1:9"  # offline verification must not need a server
MINUTE, HOUR = 60.0, 3600.0


class Run:
    """A gateway on a test clock that thins often, and what the test signed through it."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder
        self.clock = ClockFile(folder)
        self.signed: list[RetainedPoint] = []
        self.server = self.start("retention", thin_every="0.3")

    def start(self, name: str, *, thin_every: str) -> ServerProcess:
        env = {**self.clock.env, "AVAL_CHECKPOINT_THINNING_INTERVAL_SECONDS": thin_every}
        return ServerProcess.start(self.url, self.folder / "config", name=name, extra_env=env)

    def client(self, principal: str) -> Client:
        return Client(self.server.address, token_of(principal), timeout=20)

    def sign(self) -> audit_pb2.Checkpoint:
        """One more event, then a checkpoint of it, at the clock's time."""
        with self.client("app-a") as app, self.client("insp-a") as inspector:
            app.propose(**propose_kwargs())  # 30 days to decide: none expires here
            checkpoint = inspector.create_checkpoint()
        if not self.signed or self.signed[-1].tree_size != checkpoint.tree_size:
            at = checkpoint.issued_at.ToDatetime(tzinfo=UTC)
            self.signed.append(RetainedPoint(checkpoint.tree_size, at))
        return checkpoint

    @property
    def witness_file(self) -> Path:
        return self.folder / "config" / "data" / "witness" / "checkpoints.jsonl"

    def stored(self) -> set[int]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT tree_size FROM aval.checkpoints WHERE tenant_id = 'ville-a'"
            ).fetchall()
        return {row[0] for row in rows}

    def witnessed(self) -> set[int]:
        lines = self.witness_file.read_text(encoding="utf-8").splitlines()
        return {json.loads(line)["tree_size"] for line in lines if line}

    def passes(self) -> int:
        """How many thinning passes the server logged."""
        return self.server.log_path.read_text().count("checkpoint retention:")

    def kept(self) -> frozenset[int]:
        """What the rule keeps of everything the test signed, at the servers' time now."""
        return retained(self.signed, self.clock.now())

    def verify(self, *, strict: bool = False) -> audit_pb2.VerifyChainResponse:
        with self.client("insp-a") as inspector:
            return inspector.verify_chain(strict=strict)

    def stop(self) -> None:
        assert self.server.stop() == 0, self.server.log_path.read_text()


@pytest.fixture
def run(new_database: Callable[..., str], tmp_path: Path) -> Iterator[Run]:
    started = Run(new_database(), tmp_path)
    try:
        yield started
    finally:
        started.server.stop()


def _kinds(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, int]]:
    return [(p.kind, p.seq) for p in report.problems]


def _offline(folder: Path, public_key: bytes) -> tuple[int, str]:
    done = run_cli(
        NO_SERVER,
        None,
        "--lang",
        "en",
        "audit",
        "verify",
        "--offline",
        str(folder),
        "--public-key",
        public_key.hex(),
    )
    return done.returncode, done.stdout + done.stderr


def test_days_of_checkpoints_are_thinned_by_the_rule_and_a_kept_one_dropped_is_named(
    run: Run, tmp_path: Path
) -> None:
    # A bundle exported early carries the checkpoint the export signs, then one more in the
    # same minute: past a day, the bundle's checkpoint is no longer the last of its hour.
    run.sign()
    run.sign()
    bundle = tmp_path / "bundle"
    exported = run_cli(run.server.address, "insp-a", "audit", "export", "--bundle", str(bundle))
    assert exported.returncode == 0, exported.stderr
    bundled = json.loads((bundle / "checkpoints.jsonl").read_text().splitlines()[-1])
    if bundled["tree_size"] != run.signed[-1].tree_size:
        run.signed.append(next(p for p in _all_listed(run) if p.tree_size == bundled["tree_size"]))
    assert bundled["tree_size"] > 1
    run.clock.advance(1)
    run.sign()

    # Three days: two checkpoints 10 s apart every 31 minutes, then an hour of one every 5.
    for _ in range(3 * 24 * 60 // 31):
        run.clock.advance(31 * MINUTE)
        run.sign()
        run.clock.advance(10)
        run.sign()
    run.clock.advance(2 * HOUR)
    for _ in range(12):
        run.clock.advance(5 * MINUTE)
        run.sign()
    everything = {p.tree_size for p in run.signed}
    assert len(everything) > 290

    wait_until(lambda: run.stored() == run.kept(), 20, "the database keeps what the rule keeps")
    wait_until(lambda: run.witnessed() == run.kept(), 20, "the witness file too")
    kept = run.kept()
    assert len(kept) < len(everything) / 2
    assert bundled["tree_size"] not in kept
    log = run.server.log_path.read_text()
    assert "checkpoint retention: 1 tenant(s)" in log and "checkpoint(s) thinned" in log

    # Verification is intact, strict too, online and through the CLI.
    report = run.verify(strict=True)
    assert report.ok, _kinds(report)
    assert report.checkpoints_checked == len(run.stored())
    cli = run_cli(run.server.address, "insp-a", "audit", "verify", "--strict")
    assert cli.returncode == 0, cli.stdout + cli.stderr

    # The bundle exported before still verifies offline, its checkpoint gone from the database.
    status, out = _offline(bundle, run.server.public_key)
    assert status == 0, out

    # Proofs: an event of the bundle is in the latest tree; the trail only grew since the
    # bundle's checkpoint, proven from the events and checked against the bundle's own copy.
    key = ("--public-key", run.server.public_key.hex())
    size = bundled["tree_size"]
    prove = run_cli(run.server.address, "insp-a", "--lang", "en", "audit", "prove", "1", *key)
    assert prove.returncode == 0, prove.stdout + prove.stderr
    # Asked of the thinned size, the refusal names the nearest sizes kept, to ask for instead.
    below = max(s for s in run.stored() if s < size)
    above = min(s for s in run.stored() if s > size)
    prove_at = ("--lang", "en", "audit", "prove", "1", "--tree-size")
    thinned = run_cli(run.server.address, "insp-a", *prove_at, str(size), *key)
    assert thinned.returncode == 1, thinned.stdout
    assert f"no signed checkpoint of {size} events is kept" in thinned.stderr
    assert f"nearest kept sizes, {below}, {above}, or 0" in thinned.stderr
    nearest = run_cli(
        run.server.address, "insp-a", "audit", "prove", "1", "--tree-size", str(above), *key
    )
    assert nearest.returncode == 0, nearest.stdout + nearest.stderr
    asked = ("--lang", "en", "audit", "consistency", str(size), "0", *key)
    refused = run_cli(run.server.address, "insp-a", *asked)
    assert refused.returncode == 1
    assert f"no longer keeps the checkpoint of {size} events" in refused.stderr
    held = run_cli(run.server.address, "insp-a", *asked, "--old-checkpoint", str(bundle))
    assert held.returncode == 0, held.stdout + held.stderr
    assert f"extends that of {size} without changing it" in held.stdout
    # A held checkpoint of another history does not pass.
    forged = tmp_path / "forged.jsonl"
    line = json.loads((bundle / "checkpoints.jsonl").read_text().splitlines()[-1])
    line["root_hash"] = "00" * 32
    forged.write_text(json.dumps(line) + "\n")
    other = run_cli(run.server.address, "insp-a", *asked, "--old-checkpoint", str(forged))
    assert other.returncode == 1, other.stdout

    # The CLI lists the newest 20, and says how to see every one.
    listed = run_cli(run.server.address, "insp-a", "--lang", "en", "audit", "checkpoints")
    assert listed.returncode == 0, listed.stderr
    assert "Only the 20 newest are shown: `--all` shows every one" in listed.stdout
    rows = [line.split()[0] for line in listed.stdout.splitlines() if line[:1].isdigit()]
    assert [int(size) for size in rows] == sorted(kept)[-20:]
    every = run_cli(run.server.address, "insp-a", "--json", "audit", "checkpoints", "--all")
    assert every.returncode == 0, every.stderr
    assert len(json.loads(every.stdout)["checkpoints"]) == len(kept)

    # A superuser deletes a checkpoint the rule keeps (the last of an hour, days ago).
    old = sorted(kept)[2]
    with superuser(run.url) as conn:
        conn.execute(
            "DELETE FROM aval.checkpoints WHERE tenant_id = 'ville-a' AND tree_size = %s",
            (old,),
        )
    assert _kinds(run.verify()) == [("checkpoint_missing", old)]
    # A pass of the thinning since keeps its witness line: it is still named.
    passes = run.passes()
    wait_until(lambda: run.passes() > passes, 5, "another pass ran")
    assert old in run.witnessed()
    assert _kinds(run.verify()) == [("checkpoint_missing", old)]


def _all_listed(run: Run) -> list[RetainedPoint]:
    with run.client("insp-a") as inspector:
        found = inspector.list_checkpoints().checkpoints
    return [RetainedPoint(c.tree_size, c.issued_at.ToDatetime(tzinfo=UTC)) for c in found]


def test_checkpoints_thinned_by_the_rule_are_not_named_missing(run: Run, tmp_path: Path) -> None:
    """The database thinned, the witness file not yet (a crash between the two): only a
    checkpoint the rule keeps, and the database lost, is named."""
    for _ in range(3 * 24):
        run.sign()
        run.clock.advance(20 * MINUTE)
    run.clock.advance(2 * HOUR)
    run.sign()
    saved = tmp_path / "witness-before.jsonl"
    shutil.copy(run.witness_file, saved)
    wait_until(lambda: run.stored() == run.kept(), 20, "the database is thinned")
    run.stop()

    shutil.copy(saved, run.witness_file)  # every checkpoint ever signed, thinned ones too
    run.server = run.start("unthinned", thin_every="0")
    dropped = {p.tree_size for p in run.signed} - run.stored()
    assert dropped
    report = run.verify(strict=True)
    assert report.ok, _kinds(report)

    kept_old = sorted(run.stored())[1]
    with superuser(run.url) as conn:
        conn.execute(
            "DELETE FROM aval.checkpoints WHERE tenant_id = 'ville-a' AND tree_size = %s",
            (kept_old,),
        )
    assert _kinds(run.verify()) == [("checkpoint_missing", kept_old)]


def test_only_the_thinning_deletes_checkpoints_and_only_what_the_rule_drops(run: Run) -> None:
    """The service's role cannot delete nor change a checkpoint, session flag or not; the
    function deletes, and only what the rule drops at a time never ahead of the latest signing
    time (the test clock's, hours ahead of the database's), whatever sizes and time it is
    given: here the first of three checkpoints of one minute, then one 2 hours later."""
    run.stop()
    run.server = run.start("no-thinning", thin_every="0")
    now = run.clock.now()
    run.clock.advance_to(now.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=1))
    for _ in range(3):
        run.sign()
    run.clock.advance(2 * HOUR)
    run.sign()
    sizes = sorted(run.stored())
    assert len(sizes) == 4
    with psycopg.connect(run.url) as conn:
        conn.execute("SET ROLE aval_service")
        conn.execute("SET search_path = aval")
        for statement in (
            "DELETE FROM checkpoints WHERE tree_size = %s",
            "UPDATE checkpoints SET key_id = 'x' WHERE tree_size = %s",
        ):
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SELECT set_config('aval.checkpoint_thinning', 'on', true)")
                conn.execute(statement, (sizes[1],))
        # Ten years ahead, every size: the rule's time is the latest signing time, at which
        # the second checkpoint is not the last of its minute, and all else is kept.
        ahead = run.clock.now() + timedelta(days=3650)
        row = conn.execute("SELECT thin_checkpoints('ville-a', %s, %s)", (sizes, ahead))
        assert row.fetchone() == (1,)
    assert run.stored() == {sizes[0], sizes[2], sizes[3]} == run.kept()
    # As the owner, without the function, the trigger still refuses.
    with psycopg.connect(run.url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("DELETE FROM aval.checkpoints WHERE tenant_id = 'ville-a'")
