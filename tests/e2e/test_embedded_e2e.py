"""The embedded PostgreSQL outlives no server for good: a killed server's handle is forgotten."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_embedded_database_stops_after_a_killed_server_is_restarted(tmp_path: Path) -> None:
    """kill -9 leaves the dead server's pid in the handle file; the next server that exits
    cleanly must still stop the embedded PostgreSQL (issue 10, item 16)."""
    killed = ServerProcess.start(None, tmp_path, name="killed", signing_key=False)
    pgdata = tmp_path / "data" / "pgdata"
    postmaster = _postmaster_pid(pgdata)
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.process.wait(timeout=10)
    assert psutil.pid_exists(postmaster), "the killed server cannot have stopped PostgreSQL"

    restarted = ServerProcess.start(None, tmp_path, name="restarted", signing_key=False)
    assert _postmaster_pid(pgdata) == postmaster, "the running PostgreSQL is reused"
    handles = json.loads((pgdata / ".handle_pids.json").read_text())
    assert killed.process.pid not in handles
    assert restarted.stop() == 0

    assert _gone(postmaster, 30), "PostgreSQL still runs after its last server exited"
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []


def test_the_last_of_several_servers_stops_the_embedded_database_after_one_was_killed(
    tmp_path: Path,
) -> None:
    """Two servers share the embedded PostgreSQL; one is killed with SIGKILL while the other
    runs on. When the survivor exits cleanly it is the last one: PostgreSQL stops."""
    first = ServerProcess.start(None, tmp_path, name="first", signing_key=False)
    survivor = ServerProcess.start(None, tmp_path, name="survivor", signing_key=False)
    pgdata = tmp_path / "data" / "pgdata"
    postmaster = _postmaster_pid(pgdata)
    handles = json.loads((pgdata / ".handle_pids.json").read_text())
    assert first.process.pid in handles and survivor.process.pid in handles
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    assert survivor.stop() == 0, survivor.log_path.read_text()
    assert _gone(postmaster, 30), "PostgreSQL still runs after its last server exited"
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []
