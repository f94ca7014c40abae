"""Proposals sealed in the statement that records them (migration 0027), through the real server.

The proposal writer seals a batch before sending it when it knows the tenant's head (where its
own last append ended), and the SQL function stores the seal only when the range appended is
the one sealed. Another writer moving the head, or a database that stores other bytes, must
never end in a signature over what the service did not write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from aval.audit_store import seals
from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from aval.v1 import audit_pb2
from tests.support import ServerProcess, token_of

from .helpers import propose_kwargs, superuser, wait_until

pytestmark = pytest.mark.e2e

_MIGRATION = Path(seals.__file__).parent / "migrations" / "0027_sealed_proposals.sql"
_APPEND = Path(seals.__file__).parent / "migrations" / "0022_trail_seals.sql"


def _client(server: ServerProcess, principal: str) -> Client:
    return Client(server.address, token_of(principal), timeout=20)


def _function(path: Path, name: str) -> str:
    """The CREATE FUNCTION statement of `name` in a migration, as CREATE OR REPLACE."""
    text = path.read_text()
    function = text[text.index(f"CREATE FUNCTION {name}(") :]
    return function[: function.index("$$;") + 3].replace("CREATE", "CREATE OR REPLACE", 1)


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT seq FROM aval.chain_heads WHERE tenant_id = 'ville-a'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _sealed_calls(url: str) -> int:
    """Calls of record_proposals_sealed that returned, as PostgreSQL counts them."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions"
            " WHERE funcname = 'record_proposals_sealed'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _verify(server: ServerProcess, *, strict: bool = False) -> audit_pb2.VerifyChainResponse:
    with _client(server, "insp-a") as inspector:
        return inspector.verify_chain(strict=strict)


@pytest.fixture
def counted(
    new_database: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway that signs when asked, on a database that counts the calls of its functions."""
    url = new_database()
    with superuser(url) as conn:
        name = conn.info.dbname
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET track_functions = 'pl'").format(sql.Identifier(name))
        )
    server = ServerProcess.start(url, tmp_path / "config", name="counted")
    try:
        yield server, url
    finally:
        assert server.stop() == 0, server.log_path.read_text()


def test_proposals_are_sealed_by_the_statement_that_records_them(
    counted: tuple[ServerProcess, str],
) -> None:
    """After its first append of a tenant, the writer seals in the recording statement, also
    once a review moved the head behind it; every event ends sealed and signed."""
    server, url = counted
    with _client(server, "app-a") as app, _client(server, "sup-a1") as reviewer:
        first = app.propose(**propose_kwargs("voirie.signalement")).decision
        for _ in range(3):
            app.propose(**propose_kwargs("voirie.signalement"))
        reviewer.decide(first.id, verdict="approve")  # another writer moves the head
        for _ in range(3):
            app.propose(**propose_kwargs("voirie.signalement"))
    # The first proposal learnt the head (two statements); the six others, one statement each.
    # A backend reports its counts when idle, within about 10 s.
    wait_until(lambda: _sealed_calls(url) >= 6, 30, "PostgreSQL counts the sealed statements")
    with psycopg.connect(url) as conn:
        ranges = conn.execute(
            "SELECT first_seq, last_seq FROM aval.trail_seals WHERE tenant_id = 'ville-a'"
            " ORDER BY first_seq"
        ).fetchall()
    assert [first for first, _ in ranges] == [1] + [last + 1 for _, last in ranges[:-1]]
    assert ranges[-1][1] == _head(url)
    with _client(server, "insp-a") as inspector:
        assert inspector.create_checkpoint().tree_size == _head(url)
    report = _verify(server, strict=True)
    assert report.ok, [(p.kind, p.seq) for p in report.problems]


def test_a_sealed_statement_that_stored_other_bytes_is_never_signed(
    counted: tuple[ServerProcess, str],
) -> None:
    """A superuser makes the append store other bytes and the sealed statement keep the seals
    it was sent whatever was appended: the service sees it, and the events committed are never
    signed (the seal's MAC covers the bytes the service sent), nor what the service appends
    after them."""
    server, url = counted
    with _client(server, "app-a") as app, _client(server, "insp-a") as inspector:
        app.propose(**propose_kwargs("voirie.signalement"))
        app.propose(**propose_kwargs("voirie.signalement"))  # sealed in one statement
        signed = inspector.create_checkpoint().tree_size
    assert signed == _head(url)
    append = _function(_APPEND, "append_audit_events")
    loop = "    FOREACH v_bytes IN ARRAY p_events LOOP\n"
    altering = append.replace(
        loop,
        loop + "        v_bytes := convert_to(replace(convert_from(v_bytes, 'UTF8'),"
        " 'usager:', 'forged:'), 'UTF8');\n",
    )
    sealed = _function(_MIGRATION, "record_proposals_sealed")
    refusal = (
        "RAISE EXCEPTION 'tenant %: the events appended are not those sealed', v_row.r_tenant\n"
        "                    USING ERRCODE = 'AVS02';"
    )
    accepting = sealed.replace(refusal, "NULL;")
    assert altering != append and accepting != sealed
    with superuser(url) as conn:
        conn.execute("SET search_path = aval")
        conn.execute(altering.encode())
        conn.execute(accepting.encode())
    try:
        # The service refuses the statement's answer, but the statement committed: the retry
        # finds the decision recorded and answers with it (or fails); either way, no signature.
        with _client(server, "app-a") as app, contextlib.suppress(AvalError):
            app.propose(**propose_kwargs("voirie.signalement"))
    finally:
        with superuser(url) as conn:
            conn.execute("SET search_path = aval")
            conn.execute(append.encode())
            conn.execute(sealed.encode())
    altered = signed + 1
    assert _head(url) > signed, "the accepting function committed the altered events"
    assert "not sealed" in server.log_path.read_text()
    with _client(server, "app-a") as app, _client(server, "insp-a") as inspector:
        app.propose(**propose_kwargs("voirie.signalement"))  # chains onto the altered events
        assert inspector.create_checkpoint().tree_size == signed
    kinds = [(p.kind, p.seq) for p in _verify(server).problems]
    assert ("unsealed_events", altered) in kinds
    assert f"event {altered} is covered by no seal" in server.log_path.read_text()
