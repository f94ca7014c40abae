"""One gateway (two worker processes) whose operator gave app-a (ville-a) and app-b (ville-b) a
webhook: app-a's receiver answers (or fails on request), app-b's port is reserved but not
accepting at first."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from aval.clients import Client
from tests.support import EGRESS, ServerProcess, token_of, write_egress

KEY = secrets.token_bytes(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
KEY_B = "une clé de ville-b assez longue " + secrets.token_hex(8)


class Receiver(ThreadingHTTPServer):
    """An application's endpoint on loopback: records every POST (headers, body) and answers
    503 while `failures` is positive, then 204."""

    def __init__(self, *, listening: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.server_bind()  # the port is ours from now on, accepting or not
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.failures = 0
        # When set, every POST is answered 307 to this URL (which must never be followed).
        self.redirect_to: str | None = None
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if listening:
            self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/aval/outcomes"

    def open(self) -> None:
        """Starts accepting: until then a connection is refused."""
        self.server_activate()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
        self.server_close()

    def deliveries(self, decision_id: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [
                (h, b) for h, b in self.seen if json.loads(b)["data"]["decision_id"] == decision_id
            ]

    def wait_for(self, decision_id: str, count: int = 1, seconds: float = 20) -> list[Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.deliveries(decision_id)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries for {decision_id} expected, got {found}")


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.server.lock:
            self.server.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
            failing = self.server.failures > 0
            self.server.failures -= 1 if failing else 0
        status = 503 if failing else 204
        if self.server.redirect_to:
            status = 307
        self.send_response(status)
        if self.server.redirect_to:
            self.send_header("Location", self.server.redirect_to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def webhook_egress(receiver_a: str, receiver_b: str) -> dict[str, Any]:
    egress: dict[str, Any] = copy.deepcopy(EGRESS)
    tenants = egress["tenants"]
    tenants["ville-a"]["secrets"]["app-a-hook"] = "AVAL_TEST_WEBHOOK_KEY_A"
    tenants["ville-a"]["webhooks"] = {"app-a": {"url": receiver_a, "secret": "app-a-hook"}}
    tenants["ville-b"]["secrets"] = {"app-b-hook": "AVAL_TEST_WEBHOOK_KEY_B"}
    tenants["ville-b"]["webhooks"] = {
        "app-b": {"url": receiver_b, "secret": "app-b-hook", "language": "en"}
    }
    return egress


WEBHOOK_ENV = {
    "AVAL_TEST_WEBHOOK_KEY_A": SECRET,
    "AVAL_TEST_WEBHOOK_KEY_B": KEY_B,
    "AVAL_WEBHOOK_POLL_SECONDS": "0.1",
    "AVAL_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
    "AVAL_WEBHOOK_RETRY_MAX_SECONDS": "1",
    "AVAL_WEBHOOK_TIMEOUT_SECONDS": "5",
}


@pytest.fixture(scope="package")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="package")
def receiver_down() -> Iterator[Receiver]:
    """app-b's receiver: its port is taken but refuses connections until a test opens it."""
    server = Receiver(listening=False)
    yield server
    server.close()


@pytest.fixture(scope="package")
def hooks_db(new_database: Callable[..., str]) -> str:
    return new_database()


@pytest.fixture(scope="package")
def hooked(
    hooks_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    receiver: Receiver,
    receiver_down: Receiver,
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("e2e-webhooks")
    egress = write_egress(folder / "egress", webhook_egress(receiver.url, receiver_down.url))
    process = ServerProcess.start(
        hooks_db,
        folder,
        name="webhooks",
        # Two server processes, each with its delivery worker, share the outbox: every test
        # below also shows that they never send one outcome twice.
        extra_env={"AVAL_AI_EGRESS_FILE": str(egress), "AVAL_WORKERS": "2", **WEBHOOK_ENV},
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="package")
def as_(hooked: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(hooked.address, token_of(principal), timeout=30)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


@pytest.fixture
def outbox(hooks_db: str) -> Callable[[str], list[dict[str, Any]]]:
    """The outbox rows of a decision, read straight from PostgreSQL."""

    def rows(decision_id: str) -> list[dict[str, Any]]:
        with psycopg.connect(hooks_db, autocommit=True) as conn:
            cur = conn.execute(
                "SELECT id::text, application_id, attempts, delivered_at, dead_at, last_error"
                " FROM aval.webhook_outbox WHERE decision_id = %s",
                (decision_id,),
            )
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return rows


def final_event_id(database: str, decision_id: str, kind: str) -> str:
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT event_id::text FROM aval.audit_events WHERE decision_id = %s AND kind = %s",
            (decision_id, kind),
        ).fetchone()
    assert row is not None
    return str(row[0])
