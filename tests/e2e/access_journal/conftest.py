"""A gateway of the access journal's own, purging often, and a client per principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aval.clients import Client
from aval.v1 import journal_pb2
from tests.support import ServerProcess, clients_of

Records = list[journal_pb2.AccessRecord]


@pytest.fixture(scope="package")
def journal_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A gateway that purges its access journal every 0.2 s (on the real clock: nothing of
    these tests is old enough to go)."""
    env = {"AVAL_ACCESS_JOURNAL_PURGE_INTERVAL_SECONDS": "0.2"}
    process = ServerProcess.start(
        database_url, tmp_path_factory.mktemp("journal-server"), extra_env=env
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="package")
def as_(journal_server: ServerProcess) -> Iterator[Callable[[str], Client]]:
    """`as_("sup-a1")`: a blocking SDK client holding that principal's token."""
    yield from clients_of(journal_server)


def journal_of(client: Client, **filters: str) -> Records:
    """Every record of the journal the filters select, all pages."""
    found: Records = []
    token = ""
    while True:
        page = client.query_access_journal(page_token=token, **filters)
        found.extend(page.records)
        token = page.next_page_token
        if not token:
            return found


def server_log(server: ServerProcess) -> str:
    return Path(server.log_path).read_text(encoding="utf-8")
