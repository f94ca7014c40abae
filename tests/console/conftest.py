"""One real server with its console on, shared by the console's HTTP tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.console.support import Visitor, console_env, console_url
from tests.support import ServerProcess


@pytest.fixture(scope="package")
def console_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    folder = tmp_path_factory.mktemp("console")
    process = ServerProcess.start(
        database_url, folder, name="console", extra_env=console_env(folder / "console")
    )
    try:
        yield process, console_url(process)
    finally:
        assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture
def visitor(console_server: tuple[ServerProcess, str]) -> Iterator[Callable[[str], Visitor]]:
    """visitor("sup-a1"): a signed-in browser stand-in for that principal (closed after)."""
    opened: list[Visitor] = []

    def make(principal: str | None = None) -> Visitor:
        v = Visitor(console_server[1])
        opened.append(v)
        if principal is not None:
            v.sign_in(principal)
        return v

    yield make
    for v in opened:
        v.close()
