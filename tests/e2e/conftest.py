"""One real `aval serve` process for the end-to-end suite, and a client per principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from aval.clients import Client
from tests.support import ServerProcess, clients_of

from .helpers import Raw

ClientOf = Callable[[str], Client]


@pytest.fixture(scope="package")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The shared gateway; it must stop cleanly (exit 0) on SIGTERM after the last e2e test."""
    process = ServerProcess.start(database_url, tmp_path_factory.mktemp("e2e-server"))
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="package")
def client_of(server: ServerProcess) -> Iterator[ClientOf]:
    """`client_of("sup-a1")`: a blocking SDK client holding that principal's token."""
    yield from clients_of(server)


@pytest.fixture(scope="package")
def raw(server: ServerProcess) -> Iterator[Raw]:
    """The generated stubs on the shared gateway, for requests the SDK would not build."""
    stubs = Raw(server.address)
    yield stubs
    stubs.close()
