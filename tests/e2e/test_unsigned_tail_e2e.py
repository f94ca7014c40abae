"""No unsigned window, no signature over a forgery (issue 12, item 3), through the real server.

The checkpointer signs only what the service sealed as it appended it (audit_store/seals.py):
a tail a superuser appends, well chained and with the chain head moved, is never signed, even
when the service appends after it, and verification names it online and offline.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aval.audit_store import seals
from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from aval.v1 import audit_pb2
from tests.support import ServerProcess, token_of

from .helpers import chain_hash, propose_kwargs, run_cli, wait_until
from .test_bundle_trust_e2e import _recompute_manifest as recompute_manifest

pytestmark = pytest.mark.e2e

NO_SERVER = "127.0.0.1:9"  # offline verification must not need a server


def _client(server: ServerProcess, principal: str) -> Client:
    return Client(server.address, token_of(principal), timeout=20)


def _verify(server: ServerProcess, *, strict: bool = False) -> audit_pb2.VerifyChainResponse:
    with _client(server, "insp-a") as inspector:
        return inspector.verify_chain(strict=strict)


def _kinds(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, int]]:
    return [(p.kind, p.seq) for p in report.problems]


def _head(url: str) -> tuple[int, bytes]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT seq, hash FROM aval.chain_heads WHERE tenant_id = 'ville-a'"
        ).fetchone()
    assert row is not None
    return row[0], bytes(row[1])


def _signed_size(server: ServerProcess) -> int:
    with _client(server, "insp-a") as inspector:
        found = inspector.list_checkpoints().checkpoints
    return found[-1].tree_size if found else 0


def _forge_tail(url: str, count: int = 1, *, seal: bool = True) -> int:
    """Appends `count` well-chained events to ville-a as a superuser, moving the chain head, as
    append_audit_events would, and (with `seal`) a seal of them; returns the first forged
    seq."""
    with psycopg.connect(url) as conn:
        row: Any = conn.execute(
            "SELECT seq, hash FROM aval.chain_heads WHERE tenant_id = 'ville-a' FOR UPDATE"
        ).fetchone()
        seq, head = row
        model = conn.execute(
            "SELECT canonical FROM aval.audit_events WHERE tenant_id = 'ville-a'"
            " AND kind = 'decision.proposed' ORDER BY seq LIMIT 1"
        ).fetchone()
        assert model is not None
        first = seq + 1
        previous = bytes(head).hex()
        for _ in range(count):
            body = json.loads(bytes(model[0]))
            body["event_id"] = str(uuid.uuid4())
            body["actor"]["id"] = "forger"
            # About no decision: only the signatures can tell it from the service's events.
            body["decision_id"], body["kind"], body["data"] = "", "operator.note", {"text": "x"}
            canonical = json.dumps(
                body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
            seq += 1
            digest = chain_hash(previous, seq, canonical)
            conn.execute(
                "INSERT INTO aval.audit_events (tenant_id, seq, event_id, occurred_at,"
                " decision_id, kind, actor_id, actor_type, trace_id, schema_version, canonical,"
                " prev_hash, hash) VALUES ('ville-a', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s)",
                (
                    seq,
                    body["event_id"],
                    body["occurred_at"],
                    body["decision_id"] or None,
                    body["kind"],
                    body["actor"]["id"],
                    body["actor"]["type"],
                    body.get("trace_id", ""),
                    body["schema_version"],
                    canonical,
                    bytes.fromhex(previous),
                    bytes.fromhex(digest),
                ),
            )
            previous = digest
        conn.execute(
            "UPDATE aval.chain_heads SET seq = %s, hash = %s WHERE tenant_id = 'ville-a'",
            (seq, bytes.fromhex(previous)),
        )
        if not seal:
            return first
        # A seal too: without the service's key, its MAC cannot be right.
        conn.execute(
            "INSERT INTO aval.trail_seals (tenant_id, first_seq, last_seq, prev_hash, last_hash,"
            " key_id, mac) VALUES ('ville-a', %s, %s, %s, %s, 'forged', %s)",
            (first, seq, bytes(head), bytes.fromhex(previous), os.urandom(32)),
        )
    return first


def _export(server: ServerProcess, folder: Path) -> None:
    done = run_cli(server.address, "insp-a", "audit", "export", "--bundle", str(folder))
    assert done.returncode == 0, done.stderr


def _offline(folder: Path, *args: str) -> tuple[int, str]:
    done = run_cli(
        NO_SERVER, None, "--lang", "en", "audit", "verify", "--offline", str(folder), *args
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def signing(
    new_database: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway that signs every 0.3 s on a database of its own."""
    url = new_database()
    server = ServerProcess.start(
        url,
        tmp_path / "config",
        name="signing",
        extra_env={"AVAL_CHECKPOINT_INTERVAL_SECONDS": "0.3"},
    )
    try:
        yield server, url
    finally:
        assert server.stop() == 0, server.log_path.read_text()


@pytest.fixture
def manual(new_database: Callable[..., str], tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway that signs only when asked (CreateCheckpoint), on a database of its own."""
    url = new_database()
    server = ServerProcess.start(url, tmp_path / "config", name="manual")
    try:
        yield server, url
    finally:
        assert server.stop() == 0, server.log_path.read_text()


def test_a_forged_tail_is_never_signed_and_named_online_and_offline(
    signing: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, url = signing
    with _client(server, "app-a") as app, _client(server, "sup-a1") as reviewer:
        first = app.propose(**propose_kwargs("voirie.signalement")).decision
        reviewer.decide(first.id, verdict="approve")
        app.propose(**propose_kwargs())
    honest = _head(url)[0]
    wait_until(lambda: _signed_size(server) == honest, 20, "the signer covers every event")

    # Untouched: clean, and strict passes once signed.
    report = _verify(server, strict=True)
    assert report.ok, _kinds(report)
    assert (report.unsigned_events, report.signed_events) == (0, honest)
    folder = tmp_path / "clean"
    _export(server, folder)
    status, out = _offline(folder, "--public-key", server.public_key.hex())
    assert status == 0, out

    forged = _forge_tail(url, 2)
    assert forged == honest + 1
    # The service appends after the forgery: its own events are sealed, but chain onto it.
    with _client(server, "app-a") as app:
        app.propose(**propose_kwargs("voirie.signalement"))
    head = _head(url)[0]
    assert head == honest + 3
    time.sleep(1.5)  # several rounds of the signer
    assert _signed_size(server) == honest, "a signature covers the forgery"
    assert f"event {forged} is covered by no seal" in server.log_path.read_text()

    report = _verify(server)
    assert not report.ok
    assert _kinds(report) == [("unsealed_events", forged)]
    assert (report.unsigned_events, report.signed_events) == (3, honest)
    strict = _verify(server, strict=True)
    assert _kinds(strict) == [("unsealed_events", forged), ("unsigned_events", forged)]

    cli = run_cli(server.address, "insp-a", "--lang", "en", "audit", "verify")
    assert cli.returncode == 1
    assert f"unsealed_events — tenant ville-a, event #{forged}" in cli.stdout, cli.stdout
    assert f"3 event(s) from #{forged} on are covered by no signature yet" in cli.stdout

    # Offline, the bundle names the events no signature covers: strict with a trusted key.
    folder = tmp_path / "forged"
    _export(server, folder)
    status, out = _offline(folder, "--public-key", server.public_key.hex())
    assert status == 1, out
    assert f"unsigned_events — tenant ville-a, event #{forged}" in out
    status, out = _offline(folder, "--public-key", server.public_key.hex(), "--no-strict")
    assert status == 0, out
    assert f"3 event(s) from #{forged} on are covered by no signature yet" in out


def test_strict_deleted_seals_and_a_bundle_without_checkpoint(
    manual: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, url = manual
    with _client(server, "app-a") as app:
        app.propose(**propose_kwargs("voirie.signalement"))
        app.propose(**propose_kwargs("voirie.signalement"))
    events = _head(url)[0]

    # Nothing signed yet: intact, but strict fails; offline with a trusted key too.
    report = _verify(server)
    assert report.ok and (report.unsigned_events, report.signed_events) == (events, 0)
    assert _kinds(_verify(server, strict=True)) == [("unsigned_events", 1)]
    strict = run_cli(server.address, "insp-a", "--lang", "en", "audit", "verify", "--strict")
    assert strict.returncode == 1 and "unsigned_events" in strict.stdout, strict.stdout
    folder = tmp_path / "unsigned"
    _export(server, folder)  # the export signs a checkpoint first (its caller may)...
    (folder / "checkpoints.jsonl").write_text("")  # ...that a forger drops, with the
    recompute_manifest(folder)  # manifest made to fit: a bundle with no checkpoint
    status, out = _offline(folder, "--public-key", server.public_key.hex())
    assert status == 1 and "unsigned_events — tenant ville-a, event #1" in out, out
    status, out = _offline(folder, "--public-key", server.public_key.hex(), "--no-strict")
    assert status == 0, out

    with _client(server, "insp-a") as inspector:
        assert inspector.create_checkpoint().tree_size == events
    assert _verify(server, strict=True).ok
    assert run_cli(server.address, "insp-a", "audit", "verify", "--strict").returncode == 0

    # A superuser deletes the newest seal before it is signed: never signed, and named.
    with _client(server, "app-a") as app:
        app.propose(**propose_kwargs("voirie.signalement"))
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE aval.trail_seals DISABLE TRIGGER USER")
        conn.execute(
            "DELETE FROM aval.trail_seals WHERE tenant_id = 'ville-a' AND first_seq > %s",
            (events,),
        )
        conn.execute("ALTER TABLE aval.trail_seals ENABLE TRIGGER USER")
    with _client(server, "insp-a") as inspector:
        assert inspector.create_checkpoint().tree_size == events
    assert _kinds(_verify(server)) == [("unsealed_events", events + 1)]


def test_dropped_checkpoints_are_named(manual: tuple[ServerProcess, str]) -> None:
    server, url = manual
    sizes = []
    with _client(server, "app-a") as app, _client(server, "insp-a") as inspector:
        for _ in range(3):
            app.propose(**propose_kwargs("voirie.signalement"))
            sizes.append(inspector.create_checkpoint().tree_size)
    assert sizes[-1] == _head(url)[0]
    assert _verify(server, strict=True).ok
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE aval.checkpoints DISABLE TRIGGER USER")
        conn.execute(
            "DELETE FROM aval.checkpoints WHERE tenant_id = 'ville-a' AND tree_size >= %s",
            (sizes[1],),
        )
        conn.execute("ALTER TABLE aval.checkpoints ENABLE TRIGGER USER")
    report = _verify(server)
    assert _kinds(report) == [
        ("checkpoint_missing", sizes[1]),
        ("checkpoint_missing", sizes[2]),
    ]
    assert (report.unsigned_events, report.signed_events) == (sizes[2] - sizes[0], sizes[0])
    cli = run_cli(server.address, "insp-a", "--lang", "en", "audit", "verify")
    assert cli.returncode == 1 and f"checkpoint_missing — tenant ville-a, event #{sizes[1]}" in (
        cli.stdout
    )


def test_events_written_before_seals_are_adopted_once(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    """An upgrade (or a key added later): the events no seal covers are adopted on the first
    start with a key, logged, and signed; a tail forged after that is never adopted."""
    url = new_database()
    config = tmp_path / "config"
    keyless = ServerProcess.start(url, config, name="keyless", signing_key=False)
    try:
        with _client(keyless, "app-a") as app:
            app.propose(**propose_kwargs("voirie.signalement"))
    finally:
        assert keyless.stop() == 0, keyless.log_path.read_text()
    before = _head(url)[0]
    every = {"AVAL_CHECKPOINT_INTERVAL_SECONDS": "0.3"}

    keyed = ServerProcess.start(url, config, name="keyed", extra_env=every)
    try:
        wait_until(lambda: _signed_size(keyed) == before, 20, "the adopted events are signed")
        assert f"adopting events 1 to {before} of tenant ville-a" in keyed.log_path.read_text()
        with _client(keyed, "app-a") as app:
            app.propose(**propose_kwargs("voirie.signalement"))
        after = _head(url)[0]
        wait_until(lambda: _signed_size(keyed) == after, 20, "the sealed events are signed")
        assert _verify(keyed, strict=True).ok
    finally:
        assert keyed.stop() == 0, keyed.log_path.read_text()

    forged = _forge_tail(url, seal=False)
    again = ServerProcess.start(url, config, name="again", extra_env=every)
    try:
        time.sleep(1.5)
        assert _signed_size(again) == after, "a restart adopted the forgery"
        assert "adopting" not in again.log_path.read_text()
        assert _kinds(_verify(again)) == [("unsealed_events", forged)]
    finally:
        assert again.stop() == 0, again.log_path.read_text()


def test_what_the_database_changes_while_appending_is_never_sealed(
    manual: tuple[ServerProcess, str],
) -> None:
    """A superuser replaces the append function with one that alters the bytes it stores: the
    service recomputes the chain of what it sent, refuses to seal, and nothing is written."""
    server, url = manual
    with _client(server, "app-a") as app:
        app.propose(**propose_kwargs("voirie.signalement"))
    before = _head(url)
    migration = Path(seals.__file__).parent / "migrations" / "0022_trail_seals.sql"
    text = migration.read_text()
    function = text[text.index("CREATE FUNCTION append_audit_events") :]
    function = function[: function.index("$$;") + 3].replace("CREATE", "CREATE OR REPLACE", 1)
    loop = "    FOREACH v_bytes IN ARRAY p_events LOOP\n"
    altered = function.replace(
        loop,
        loop + "        v_bytes := convert_to(replace(convert_from(v_bytes, 'UTF8'),"
        " 'usager:', 'forged:'), 'UTF8');\n",
    )
    assert altered != function
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path = aval")
        conn.execute(altered.encode())
    try:
        with _client(server, "app-a") as app, pytest.raises(AvalError):
            app.propose(**propose_kwargs("voirie.signalement"))
        assert _head(url) == before, "events the service did not send were committed"
        assert "not sealed" in server.log_path.read_text()
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("SET search_path = aval")
            conn.execute(function.encode())
    with _client(server, "app-a") as app, _client(server, "insp-a") as inspector:
        app.propose(**propose_kwargs("voirie.signalement"))
        assert inspector.create_checkpoint().tree_size == _head(url)[0]
    assert _verify(server, strict=True).ok


def test_a_sealed_event_rewritten_before_it_is_signed_is_never_signed(
    manual: tuple[ServerProcess, str],
) -> None:
    server, url = manual
    with _client(server, "app-a") as app, _client(server, "insp-a") as inspector:
        app.propose(**propose_kwargs("voirie.signalement"))
        signed = inspector.create_checkpoint().tree_size
        app.propose(**propose_kwargs("voirie.signalement"))
    last, _ = _head(url)
    assert last == signed + 1
    # The superuser rewrites the newest event, its hash and the chain head, all consistent.
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE aval.audit_events DISABLE TRIGGER USER")
        row: Any = conn.execute(
            "SELECT canonical, prev_hash FROM aval.audit_events"
            " WHERE tenant_id = 'ville-a' AND seq = %s",
            (last,),
        ).fetchone()
        canonical = bytes(row[0]).replace(b'"usager:', b'"forged:', 1)
        digest = bytes.fromhex(chain_hash(bytes(row[1]).hex(), last, canonical))
        conn.execute(
            "UPDATE aval.audit_events SET canonical = %s, hash = %s"
            " WHERE tenant_id = 'ville-a' AND seq = %s",
            (canonical, digest, last),
        )
        conn.execute("UPDATE aval.chain_heads SET hash = %s WHERE tenant_id = 'ville-a'", (digest,))
        conn.execute("ALTER TABLE aval.audit_events ENABLE TRIGGER USER")
    with _client(server, "insp-a") as inspector:
        assert inspector.create_checkpoint().tree_size == signed
    assert ("unsealed_events", last) in _kinds(_verify(server))
    assert f"event {last} is covered by no seal" in server.log_path.read_text()
