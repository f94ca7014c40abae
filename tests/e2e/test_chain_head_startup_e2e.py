"""A server refuses to start on a trail whose rows and chain head disagree, naming
`aval audit verify`, instead of crashing at the first write (issue 12, item 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from aval.clients import Client
from tests.support import ServerProcess, serve_refused, token_of

from .helpers import propose_kwargs

pytestmark = pytest.mark.e2e

# What someone with full database access did to ville-a's trail of two events.
TAMPERINGS = {
    # The head moved back one event: the next append would collide with the last row.
    "rows run past the head": "UPDATE aval.chain_heads h SET seq = 1, hash = e.hash"
    " FROM aval.audit_events e WHERE e.tenant_id = 'ville-a' AND e.seq = 1"
    " AND h.tenant_id = 'ville-a'",
    # The last event removed: the next append would leave a gap.
    "rows stop short of the head": "DELETE FROM aval.audit_events"
    " WHERE tenant_id = 'ville-a' AND seq = 2",
    # The head's hash rewritten: the next event would link to nothing.
    "the head names another hash": "UPDATE aval.chain_heads SET hash = sha256('x')"
    " WHERE tenant_id = 'ville-a'",
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_a_trail_and_head_that_disagree_stop_the_start_naming_verify_I3(
    tampering: str, new_database: Callable[..., str], tmp_path: Path
) -> None:
    url = new_database()
    server = ServerProcess.start(url, tmp_path / "first", name="first")
    try:
        with Client(server.address, token_of("app-a"), timeout=20) as app:
            app.propose(**propose_kwargs())  # seq 1
            app.propose(**propose_kwargs())  # seq 2
    finally:
        assert server.stop() == 0
    with psycopg.connect(url) as conn:  # as a superuser, triggers off
        conn.execute("ALTER TABLE aval.audit_events DISABLE TRIGGER USER")
        conn.execute(TAMPERINGS[tampering])
        conn.execute("ALTER TABLE aval.audit_events ENABLE TRIGGER USER")

    stderr = serve_refused(url, tmp_path / "second", OTEL_TRACES_EXPORTER="none")

    assert "UniqueViolation" not in stderr, stderr
    assert "ville-a" in stderr and "`aval audit verify`" in stderr, stderr
    assert "ville-b" not in stderr, "a tenant whose trail agrees is not named"


def test_an_untouched_trail_starts_again(new_database: Callable[..., str], tmp_path: Path) -> None:
    url = new_database()
    for run in ("first", "second"):
        server = ServerProcess.start(url, tmp_path / run, name=run)
        try:
            with Client(server.address, token_of("app-a"), timeout=20) as app:
                app.propose(**propose_kwargs())
        finally:
            assert server.stop() == 0
