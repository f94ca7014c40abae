"""Rows of the access journal past their retention (12 months by default) are purged by the
server, on its own clock, and only they: recent rows stay (R13, CNIL deliberation 2021-122).

The server runs on a database of its own: its clock moves thirteen months ahead, and its
deadline sweeper and purge must not touch what other tests keep in the shared one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta

import pytest

from aval.clients import Client
from aval.v1 import journal_pb2
from tests.support import ClockFile, ServerProcess

from ..helpers import propose_kwargs
from .conftest import clients_of, journal_of, server_log

pytestmark = pytest.mark.e2e

As = Callable[[str], Client]
MONTH = 31 * 24 * 3600.0


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    return ClockFile(tmp_path_factory.mktemp("journal-clock"))


@pytest.fixture(scope="module")
def moved_server(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory, clock: ClockFile
) -> Iterator[ServerProcess]:
    env = {**clock.env, "AVAL_ACCESS_JOURNAL_PURGE_INTERVAL_SECONDS": "0.2"}
    folder = tmp_path_factory.mktemp("journal-moved")
    process = ServerProcess.start(new_database(), folder, extra_env=env)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="module")
def on_moved(moved_server: ServerProcess) -> Iterator[As]:
    yield from clients_of(moved_server)


def _reads(officer: Client, decision_id: str) -> list[journal_pb2.AccessRecord]:
    return journal_of(officer, decision_id=decision_id, action="decision.get")


def test_reads_older_than_the_retention_are_purged_and_recent_ones_kept_R13(
    on_moved: As, clock: ClockFile, moved_server: ServerProcess
) -> None:
    as_ = on_moved
    decision = as_("app-a").propose(**propose_kwargs("aides.attribution")).decision
    as_("sup-a1").with_purpose("lecture ancienne").get_decision(decision.id)
    clock.advance(7 * MONTH)
    as_("sup-a1").with_purpose("lecture récente").get_decision(decision.id)
    officer = as_("dpo-a")
    assert len(_reads(officer, decision.id)) == 2, "nothing is purged within the retention"

    clock.advance(6 * MONTH)  # the first read is now 13 months old, the second 6
    deadline = time.monotonic() + 20
    while len(rows := _reads(officer, decision.id)) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert [r.purpose for r in rows] == ["lecture récente"]
    age = clock.now() - rows[0].at.ToDatetime(tzinfo=UTC)
    assert timedelta(days=5 * 31) < age < timedelta(days=12 * 30)
    assert "access journal: purged 1 rows" in server_log(moved_server)
