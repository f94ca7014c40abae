"""Watches and unread exports cannot starve the server; health says NOT_SERVING while the database
is unusable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg import conninfo

from aval.clients import Client
from aval.v1 import audit_pb2
from tests.support import ServerProcess, token_of

from ..helpers import EXPIRED, PENDING, metadata_of, propose_kwargs, wait_until
from .conftest import STALL_SECONDS, rich

pytestmark = pytest.mark.e2e


# --- Items 3 and 7 on a gateway with tight limits --------------------------------------------


@pytest.fixture(scope="module")
def tight(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A gateway of its own, on a database of its own, with two request slots, two main pool
    connections and two export connections, and a short stall timeout."""
    process = ServerProcess.start(
        new_database(),
        tmp_path_factory.mktemp("e2e-tight"),
        name="tight",
        extra_env={
            "AVAL_MAX_CONCURRENT_REQUESTS": "2",
            "AVAL_POOL_MIN_SIZE": "1",
            "AVAL_POOL_MAX_SIZE": "2",
            "AVAL_EXPORT_POOL_SIZE": "2",
            "AVAL_STREAM_STALL_SECONDS": str(STALL_SECONDS),
        },
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="module")
def on_tight(tight: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(tight.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


def test_long_lived_watches_do_not_starve_unary_calls(on_tight: Callable[[str], Client]) -> None:
    """With two request slots, six open WatchDecision streams leave Propose and GetDecision
    answering promptly, and more concurrent calls than slots wait their turn, none refused."""
    app = on_tight("app-a")
    pending = [app.propose(**propose_kwargs()).decision.id for _ in range(6)]
    streams = [app.watch_decision(d, timeout=60) for d in pending]
    for stream in streams:
        assert next(stream).state == PENDING  # each watch is open and has answered
    with Client(app.address, token_of("app-a"), timeout=5) as prompt:
        started = time.monotonic()
        d = prompt.propose(**propose_kwargs()).decision
        assert prompt.get_decision(d.id).id == d.id
        assert time.monotonic() - started < 5
    errors: list[BaseException] = []

    def propose() -> None:
        try:
            on_tight("app-a").propose(**propose_kwargs())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=propose) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    for stream in streams:
        stream.close()


def fill_trail(client: Client, megabytes: float) -> None:
    """Enough events in ville-a that an export holds more than `megabytes` MB."""
    explanation = "x" * 20_000  # attested suggestions are kept whole in the trail
    for _ in range(int(megabytes * 1e6 / 40_000) + 1):
        client.propose(**propose_kwargs("voirie.signalement", explanation=explanation))


class UnreadExport:
    """An export stream opened on a connection of its own, whose client reads nothing."""

    def __init__(self, address: str) -> None:
        # No BDP probing: the client's window stays small, so unread chunks soon stall.
        self.channel = grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)])
        rpc = self.channel.unary_stream(
            "/aval.v1.Audit/ExportEvents",
            request_serializer=audit_pb2.ExportEventsRequest.SerializeToString,
            response_deserializer=audit_pb2.ExportEventsResponse.FromString,
        )
        self.stream = rpc(
            audit_pb2.ExportEventsRequest(), metadata=metadata_of("insp-a"), timeout=120
        )

    def outcome(self) -> tuple[int, grpc.StatusCode, grpc.RpcError | None]:
        """Reads it to the end now: chunks received, and the status it ended with."""
        chunks = 0
        try:
            for _ in self.stream:
                chunks += 1
        except grpc.RpcError as err:
            return chunks, err.code(), err
        return chunks, grpc.StatusCode.OK, None

    def close(self) -> None:
        self.stream.cancel()
        self.channel.close()


def test_unread_exports_cannot_starve_the_server(
    tight: ServerProcess, on_tight: Callable[[str], Client]
) -> None:
    """More unread export streams than the export pool holds: those beyond it are refused at
    once with RESOURCE_EXHAUSTED naming the setting; Propose and GetDecision still answer
    promptly, and the deadline sweeper expires what is due; the unread ones are ended after
    the stall timeout, their connections released."""
    app = on_tight("app-a")
    fill_trail(app, 3)
    due = app.propose(**propose_kwargs("express.test")).decision  # a deadline of 2 s
    exports = [UnreadExport(tight.address) for _ in range(5)]
    opened = time.monotonic()
    try:
        time.sleep(1)
        with Client(tight.address, token_of("app-a"), timeout=5) as prompt:
            for _ in range(3):
                d = prompt.propose(**propose_kwargs()).decision
                assert prompt.get_decision(d.id).state == PENDING
            wait_until(
                lambda: prompt.get_decision(due.id).state == EXPIRED, 3, "the sweeper expired it"
            )
        assert time.monotonic() - opened < STALL_SECONDS  # while the exports were held
        time.sleep(max(0.0, opened + STALL_SECONDS + 2 - time.monotonic()))
        outcomes = [export.outcome() for export in exports]
    finally:
        for export in exports:
            export.close()
    codes = sorted(code.name for _, code, _ in outcomes)
    assert codes == ["ABORTED", "ABORTED", *["RESOURCE_EXHAUSTED"] * 3], codes
    for chunks, code, err in outcomes:
        assert err is not None
        info, _ = rich(err)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            assert chunks == 0 and info.reason == "EXPORTS_BUSY"
            assert "AVAL_EXPORT_POOL_SIZE" in (err.details() or "")
        else:
            assert chunks > 0 and info.reason == "STREAM_STALLED"
    # The export connections are free again: a reader gets the whole trail.
    with Client(tight.address, token_of("insp-a"), timeout=60) as reader:
        sent = [chunk.events for chunk in reader.export_events()]
    assert sent and sent[-1] > 70


# --- Item 7: health follows the database -----------------------------------------------------


def test_health_says_not_serving_while_the_database_is_unusable(
    new_database: Callable[..., str], server_url: str, tmp_path: Any
) -> None:
    url = new_database()
    name = conninfo.conninfo_to_dict(url)["dbname"]
    process = ServerProcess.start(
        url,
        tmp_path,
        name="probed",
        extra_env={"AVAL_HEALTH_PROBE_SECONDS": "0.5"},
    )
    channel = grpc.insecure_channel(process.address)
    health = health_pb2_grpc.HealthStub(channel)

    def status(service: str = "") -> int:
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)

    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    try:
        assert status() == serving
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                wait_until(lambda: status() == not_serving, 15, "NOT_SERVING without a database")
                assert status("aval.v1.Gateway") == not_serving
            finally:
                admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        wait_until(lambda: status() == serving, 30, "SERVING again once the database is back")
        assert status("aval.v1.Audit") == serving
    finally:
        channel.close()
        code = process.stop()
    assert code == 0, process.log_path.read_text()
