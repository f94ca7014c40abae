"""Tamper evidence (I3): a superuser's edit of the trail is caught by `aval audit verify`."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from aval.clients import Client
from aval.v1 import audit_pb2
from tests.support import ServerProcess, token_of

from .helpers import chain_hash, propose_kwargs, run_cli

pytestmark = pytest.mark.e2e

# The columns of an audit event row (migration 0001, without the body that 0011 dropped).
COLUMNS = (
    "tenant_id, seq, event_id, occurred_at, decision_id, kind, actor_id, actor_type, trace_id,"
    " schema_version, canonical, prev_hash, hash"
)


@dataclass
class Fresh:
    server: ServerProcess
    url: str
    events: int  # in ville-a, once the decisions below are made

    def client(self, principal: str) -> Client:
        return Client(self.server.address, token_of(principal), timeout=20)

    def verify(self, principal: str = "insp-a") -> audit_pb2.VerifyChainResponse:
        with self.client(principal) as inspector:
            return inspector.verify_chain()


@pytest.fixture(scope="module")
def fresh(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fresh]:
    """Its own database and gateway, with a few decisions made: tampering stays here."""
    url = new_database()
    server = ServerProcess.start(url, tmp_path_factory.mktemp("e2e-tamper"), name="tamper")
    world = Fresh(server, url, 0)
    with world.client("app-a") as app, world.client("sup-a1") as s1, world.client("sup-a2") as s2:
        # seq 1 proposed, 2 review.recorded, 3 decision.finalized (by sup-a1), then more.
        first = app.propose(**propose_kwargs("voirie.signalement")).decision
        s1.decide(first.id, verdict="approve")
        second = app.propose(**propose_kwargs()).decision
        s1.claim(second.id)
        s1.decide(second.id, verdict="approve")
        s2.decide(second.id, verdict="approve")
        app.propose(**propose_kwargs("voirie.signalement"))
    with world.client("app-b") as app_b:
        app_b.propose(**propose_kwargs("voirie.signalement"))
    world.events = world.verify().events_checked
    assert world.events == 9
    yield world
    status = server.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{server.log_path.read_text()}"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_of(conn: psycopg.Connection[Any], seq: int) -> tuple[Any, ...]:
    row = conn.execute(
        sql.SQL("SELECT {} FROM aval.audit_events WHERE tenant_id = 'ville-a' AND seq = %s").format(
            sql.SQL(COLUMNS)
        ),
        (seq,),
    ).fetchone()
    assert row is not None, seq
    return row


@contextlib.contextmanager
def as_superuser_without_triggers(url: str) -> Iterator[psycopg.Connection[Any]]:
    """What only someone with full database access can do: edit the trail, triggers off."""
    with psycopg.connect(url) as conn:  # one transaction, committed on exit
        conn.execute("ALTER TABLE aval.audit_events DISABLE TRIGGER USER")
        yield conn
        conn.execute("ALTER TABLE aval.audit_events ENABLE TRIGGER USER")


@contextlib.contextmanager
def tampered(url: str, edit: Callable[[psycopg.Connection[Any]], None]) -> Iterator[None]:
    """Applies `edit` to ville-a's trail, then puts every original row back."""
    with psycopg.connect(url) as conn:
        original = conn.execute(
            sql.SQL("SELECT {} FROM aval.audit_events WHERE tenant_id = 'ville-a'").format(
                sql.SQL(COLUMNS)
            )
        ).fetchall()
        head = conn.execute("SELECT seq, hash FROM aval.chain_heads WHERE tenant_id = 'ville-a'")
        head_row = head.fetchone()
    with as_superuser_without_triggers(url) as conn:
        edit(conn)
    try:
        yield
    finally:
        with as_superuser_without_triggers(url) as conn:
            conn.execute("DELETE FROM aval.audit_events WHERE tenant_id = 'ville-a'")
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO aval.audit_events ({}) VALUES ({})").format(
                        sql.SQL(COLUMNS),
                        sql.SQL(", ").join([sql.Placeholder()] * len(COLUMNS.split(","))),
                    ),
                    original,
                )
            conn.execute(
                "UPDATE aval.chain_heads SET seq = %s, hash = %s WHERE tenant_id = 'ville-a'",
                head_row,
            )


def cli_verify(fresh: Fresh, *options: str) -> tuple[int, str, str]:
    done = run_cli(fresh.server.address, "insp-a", *options, "audit", "verify")
    return done.returncode, done.stdout, done.stderr


def problems_at(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, int]]:
    return sorted((p.kind, p.seq) for p in report.problems)


def test_verify_exits_0_on_an_untouched_trail(fresh: Fresh) -> None:
    status, out, err = cli_verify(fresh)
    assert status == 0, err
    assert err == "" and str(fresh.events) in out
    status, out, err = cli_verify(fresh, "--json")
    assert status == 0, err
    report = json.loads(out)
    assert report["ok"] is True and int(report["eventsChecked"]) == fresh.events
    assert report["problems"] == []


def test_the_service_role_and_triggers_refuse_edits_I3(fresh: Fresh) -> None:
    with psycopg.connect(fresh.url) as conn:
        conn.execute("SET ROLE aval_service")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE aval.audit_events SET kind = 'x' WHERE seq = 3")
    for statement in (
        "UPDATE aval.audit_events SET kind = 'x' WHERE seq = 3",
        "DELETE FROM aval.audit_events WHERE seq = 3",
        "TRUNCATE aval.audit_events",
    ):
        with (
            psycopg.connect(fresh.url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        ):
            conn.execute(statement)  # as superuser, triggers on
    assert fresh.verify().ok


def test_edited_canonical_bytes_are_caught_at_seq_3_I3(fresh: Fresh) -> None:
    def forge(conn: psycopg.Connection[Any]) -> None:
        row = dict(zip([c.strip() for c in COLUMNS.split(",")], row_of(conn, 3), strict=True))
        body = json.loads(row["canonical"])
        assert body["kind"] == "decision.finalized" and body["actor"]["id"] == "sup-a1"
        body["actor"]["id"] = "sup-a3"  # someone else takes the credit, columns kept in step
        conn.execute(
            "UPDATE aval.audit_events SET canonical = %s, actor_id = 'sup-a3'"
            " WHERE tenant_id = 'ville-a' AND seq = 3",
            (canonical(body),),
        )

    with tampered(fresh.url, forge):
        status, out, err = cli_verify(fresh)
        assert status == 1, out
        lines = err.splitlines()
        assert len(lines) == 1 and "hash_mismatch" in lines[0] and "n° 3" in lines[0], err
        assert "hash_mismatch" in out and "n° 3" in out
        status, _, err = cli_verify(fresh, "--lang", "en")
        assert status == 1 and "event #3" in err, err
        report = fresh.verify()
        assert not report.ok
        assert problems_at(report) == [("hash_mismatch", 3)]
        assert fresh.verify("insp-b").ok, "another tenant's chain is not affected"
    assert fresh.verify().ok, "the original rows are back"


def test_edited_kind_is_caught_at_seq_3_I3(fresh: Fresh) -> None:
    def edit(conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "UPDATE aval.audit_events SET kind = 'decision.withdrawn'"
            " WHERE tenant_id = 'ville-a' AND seq = 3"
        )

    with tampered(fresh.url, edit):
        status, out, err = cli_verify(fresh)
        assert status != 0 and "canonical_mismatch" in out
        assert len(err.splitlines()) == 1 and "n° 3" in err, err
        report = fresh.verify()
        assert not report.ok
        assert {p.seq for p in report.problems} == {3}
        assert problems_at(report) == [("canonical_mismatch", 3)]
    assert cli_verify(fresh)[0] == 0


def test_deleted_event_is_caught_I3(fresh: Fresh) -> None:
    def delete(conn: psycopg.Connection[Any]) -> None:
        conn.execute("DELETE FROM aval.audit_events WHERE tenant_id = 'ville-a' AND seq = 2")

    with tampered(fresh.url, delete):
        status, _, err = cli_verify(fresh)
        assert status != 0 and "n° 3" in err, err
        report = fresh.verify()
        assert ("sequence_gap", 3) in problems_at(report)
        assert ("broken_link", 3) in problems_at(report)
    assert fresh.verify().ok


def test_verify_during_writes_raises_no_false_alarm_I3(fresh: Fresh) -> None:
    stop = threading.Event()

    def write() -> None:
        with fresh.client("app-a") as app, fresh.client("sup-a1") as sup:
            while not stop.is_set():
                d = app.propose(**propose_kwargs("voirie.signalement")).decision
                sup.decide(d.id, verdict="approve")

    false_alarms: list[list[tuple[str, int]]] = []
    with ThreadPoolExecutor(3) as pool:
        writers = [pool.submit(write) for _ in range(3)]
        deadline = time.monotonic() + 3
        with fresh.client("insp-a") as inspector:
            while time.monotonic() < deadline and not false_alarms:
                report = inspector.verify_chain()
                if not report.ok:
                    false_alarms.append(problems_at(report))
        stop.set()
        for writer in writers:
            writer.result()
    if not fresh.verify().ok:
        pytest.fail("the trail itself is broken, not only seen broken while written to")
    assert not false_alarms, false_alarms


def test_consistent_rewrite_by_a_superuser_is_caught_I3(fresh: Fresh) -> None:
    """The chain and its head are recomputed after the edit: only the signed checkpoint, whose
    key is not in the database, still says what the history was."""
    with fresh.client("insp-a") as inspector:
        signed = inspector.create_checkpoint()
    assert signed.tree_size >= 3

    def rewrite(conn: psycopg.Connection[Any]) -> None:
        rows = conn.execute(
            "SELECT seq, canonical, prev_hash FROM aval.audit_events"
            " WHERE tenant_id = 'ville-a' ORDER BY seq"
        ).fetchall()
        previous = bytes(rows[0][2]).hex()
        for seq, text, _ in rows:
            body = json.loads(bytes(text))
            if seq == 3:
                body["actor"]["id"] = "sup-a3"
            new = canonical(body)
            digest = chain_hash(previous, seq, new)
            conn.execute(
                "UPDATE aval.audit_events SET canonical = %s, actor_id = %s,"
                " prev_hash = %s, hash = %s WHERE tenant_id = 'ville-a' AND seq = %s",
                (
                    new,
                    body["actor"]["id"],
                    bytes.fromhex(previous),
                    bytes.fromhex(digest),
                    seq,
                ),
            )
            previous = digest
        conn.execute(
            "UPDATE aval.chain_heads SET hash = %s WHERE tenant_id = 'ville-a'",
            (bytes.fromhex(previous),),
        )

    with tampered(fresh.url, rewrite):
        report = fresh.verify()
        assert not report.ok
        assert [(p.kind, p.seq) for p in report.problems] == [
            ("rewritten_history", signed.tree_size)
        ]
