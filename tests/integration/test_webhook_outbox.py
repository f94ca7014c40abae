"""The webhook outbox on real PostgreSQL: rows are written with the final event only for an
application with a webhook, and several workers (replicas) delivering at once send each row
exactly once; a failed attempt is retried when due, not before."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aval.audit_store import webhook_outbox
from aval.service.ai.egress import EgressPolicy, EndpointRule, TenantEgress, WebhookTarget
from aval.service.clock import MovableClock
from aval.service.decisions import proposals, reviewing
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.webhooks.delivery import Deliverer

from .test_flow import propose_in, verdict

KEY = "clé partagée de test, assez longue"


class _Counter(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ids: list[str] = []
        self.status = 204
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Counter

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        time.sleep(0.05)  # long enough for the workers' attempts to overlap
        with self.server.lock:
            self.server.ids.append(self.headers["webhook-id"])
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def counter() -> Iterator[_Counter]:
    server = _Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(timed: Deployment, counter: _Counter, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    monkeypatch.setenv("AVAL_TEST_IT_WEBHOOK_KEY", KEY)
    loopback = EndpointRule(network=ipaddress.ip_network("127.0.0.1/32"))
    url = f"http://127.0.0.1:{counter.server_address[1]}/outcomes"
    egress = EgressPolicy(
        {"ville-a": TenantEgress({"hook": "AVAL_TEST_IT_WEBHOOK_KEY"}, (loopback,))},
        source="tests",
        webhooks=[WebhookTarget("ville-a", "app-a", url, "hook")],
    )
    return dataclasses.replace(timed, egress=egress)


async def _approved(d: Deployment, principals: dict[str, Principal], app: str) -> uuid.UUID:
    proposed = await proposals.propose(d, principals[app], propose_in("voirie.signalement"))
    decision_id = proposed.decision.id
    await reviewing.decide(d, principals["sup-a1"], verdict(decision_id, "approve"))
    return decision_id


async def test_several_workers_deliver_each_outcome_exactly_once(
    hooked: Deployment, principals: dict[str, Principal], counter: _Counter
) -> None:
    ids = [await _approved(hooked, principals, "app-a") for _ in range(12)]
    workers = [
        Deliverer(hooked.store, hooked.egress, hooked.clock, hooked.settings) for _ in range(4)
    ]
    try:
        for _ in range(5):
            await asyncio.gather(*(w.deliver_due() for w in workers))
    finally:
        for w in workers:
            await w.aclose()
    async with hooked.store.reading() as conn:
        rows = [
            r
            for r in await webhook_outbox.listing(conn, "ville-a", limit=1000)
            if r.decision_id in ids
        ]
    assert len(rows) == 12 and all(r.status == "delivered" and r.attempts == 1 for r in rows)
    assert all(counter.ids.count(str(r.id)) == 1 for r in rows)  # each once, none twice


async def test_no_row_for_an_application_without_a_webhook(
    hooked: Deployment, principals: dict[str, Principal]
) -> None:
    decision_id = await _approved(hooked, principals, "appsup-a")
    async with hooked.store.reading() as conn:
        assert await webhook_outbox.listing(conn, "ville-a", decision_id=decision_id) == []


async def test_a_failed_attempt_waits_for_its_backoff_then_is_retried(
    hooked: Deployment,
    principals: dict[str, Principal],
    counter: _Counter,
    clock: MovableClock,
) -> None:
    counter.status = 500
    decision_id = await _approved(hooked, principals, "app-a")
    worker = Deliverer(hooked.store, hooked.egress, hooked.clock, hooked.settings)
    try:
        await worker.deliver_due()
        async with hooked.store.reading() as conn:
            [row] = await webhook_outbox.listing(conn, "ville-a", decision_id=decision_id)
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
        base = hooked.settings.webhook_retry_base_seconds
        assert base / 2 - 1 <= (row.next_attempt_at - clock.now()).total_seconds() <= base
        assert await worker.deliver_due() == 0  # not due yet
        counter.status = 204
        clock.advance(base)
        assert await worker.deliver_due() >= 1
        async with hooked.store.reading() as conn:
            [row] = await webhook_outbox.listing(conn, "ville-a", decision_id=decision_id)
        assert (row.status, row.attempts) == ("delivered", 2)
    finally:
        await worker.aclose()
    assert counter.ids.count(str(row.id)) == 2


async def test_a_worker_without_the_webhook_leaves_the_outcome_to_one_that_has_it(
    hooked: Deployment, principals: dict[str, Principal], counter: _Counter
) -> None:
    """A replica not yet reloaded (or another deployment on the same database) has no webhook
    for app-a: it must not take the row, fail and push its next attempt back (seen in the
    tests: an outcome delayed past 30 s by servers of other tests sharing the database)."""
    decision_id = await _approved(hooked, principals, "app-a")
    bare = Deliverer(hooked.store, EgressPolicy({}, source="tests"), hooked.clock, hooked.settings)
    worker = Deliverer(hooked.store, hooked.egress, hooked.clock, hooked.settings)
    try:
        assert await bare.deliver_due() == 0
        async with hooked.store.reading() as conn:
            [row] = await webhook_outbox.listing(conn, "ville-a", decision_id=decision_id)
        assert (row.status, row.attempts) == ("pending", 0)
        assert await worker.deliver_due() >= 1
        async with hooked.store.reading() as conn:
            [row] = await webhook_outbox.listing(conn, "ville-a", decision_id=decision_id)
        assert (row.status, row.attempts) == ("delivered", 1)
    finally:
        await bare.aclose()
        await worker.aclose()
    assert counter.ids.count(str(row.id)) == 1
