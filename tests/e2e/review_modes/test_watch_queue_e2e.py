"""WatchQueue: a supervisor's live queue of their tenant, through the real server — a new
proposal reaches it within 2 s, then its claim, release and verdict; other callers and other
tenants are refused; the stream is bounded and ends when the caller hangs up."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from aval.clients import Client
from aval.v1 import review_pb2
from tests.e2e.helpers import Raw, metadata_of, propose_kwargs
from tests.support import ServerProcess, token_of

pytestmark = pytest.mark.e2e


class Watch:
    """One WatchQueue stream read by a thread into a queue."""

    def __init__(self, raw: Raw, principal: str, tenant: str = "") -> None:
        self.call = raw.review.WatchQueue(
            review_pb2.WatchQueueRequest(tenant=tenant), metadata=metadata_of(principal)
        )
        self.items: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for item in self.call:
                self.items.put(item)
        except grpc.RpcError as err:
            self.items.put(err)

    def next_for(self, decision_id: str, timeout: float = 5.0) -> review_pb2.WatchQueueResponse:
        """The next change of `decision_id` (changes of other decisions are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(item, grpc.RpcError):
                raise item
            if item.decision_id == decision_id:
                assert isinstance(item, review_pb2.WatchQueueResponse)
                return item

    def refusal(self, timeout: float = 5.0) -> grpc.RpcError:
        item = self.items.get(timeout=timeout)
        assert isinstance(item, grpc.RpcError), item
        return item

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(timeout=5)


@pytest.fixture
def clients(server: ServerProcess) -> Iterator[dict[str, Client]]:
    made = {p: Client(server.address, token_of(p), timeout=20) for p in ("app-a", "sup-a1")}
    yield made
    for client in made.values():
        client.close()


def test_a_new_proposal_reaches_a_watching_supervisor_within_two_seconds(
    raw: Raw, clients: dict[str, Client]
) -> None:
    watch = Watch(raw, "sup-a1")
    try:
        time.sleep(0.3)  # the stream is open on the server
        started = time.monotonic()
        d = clients["app-a"].propose(**propose_kwargs("voirie.signalement")).decision
        proposed = watch.next_for(d.id, timeout=2.0)
        assert time.monotonic() - started < 2.0
        assert (proposed.change, proposed.version, proposed.decision_type) == (
            "proposed",
            d.version,
            "voirie.signalement",
        )
        assert proposed.occurred_at.seconds > 0

        sup = clients["sup-a1"]
        claimed = sup.claim(d.id)
        assert (watch.next_for(d.id).change, claimed.version) == ("claimed", claimed.version)
        sup.release(d.id)
        assert watch.next_for(d.id).change == "released"
        final = sup.decide(d.id, verdict="approve")
        done = watch.next_for(d.id)
        # A verdict that closes the decision is told once, as its finalization.
        assert (done.change, done.version) == ("finalized", final.version)
    finally:
        watch.close()


def test_a_verdict_short_of_the_quorum_is_told_as_decided(
    raw: Raw, clients: dict[str, Client]
) -> None:
    watch = Watch(raw, "sup-a1")
    try:
        time.sleep(0.3)
        d = clients["app-a"].propose(**propose_kwargs("aides.attribution")).decision
        assert watch.next_for(d.id).change == "proposed"
        clients["sup-a1"].decide(d.id, verdict="approve")
        assert watch.next_for(d.id).change == "decided"
    finally:
        watch.close()


@pytest.mark.parametrize("principal", ["app-a", "insp-a", "admin-a"])
def test_only_supervisors_may_watch_the_queue(raw: Raw, principal: str) -> None:
    watch = Watch(raw, principal)
    try:
        assert watch.refusal().code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        watch.close()


def test_a_supervisor_cannot_watch_another_tenants_queue(raw: Raw) -> None:
    watch = Watch(raw, "sup-a1", tenant="ville-b")
    try:
        assert watch.refusal().code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        watch.close()


def test_watchers_are_capped_and_a_hang_up_frees_the_place(raw: Raw) -> None:
    # The server of these tests allows 4 watchers (AVAL_MAX_QUEUE_WATCHERS).
    watches = [Watch(raw, "sup-a1") for _ in range(4)]
    try:
        # Nothing tells a client that its stream is open on the server: a fifth watcher is
        # opened until it is refused (on a loaded machine the four may take a while). One
        # accepted meanwhile is closed; one of the four refused because of it is replaced.
        deadline = time.monotonic() + 20
        while True:
            extra = Watch(raw, "sup-a2")
            try:
                err = extra.refusal(timeout=1.0)
                break
            except queue.Empty:
                extra.close()
            watches = [w if w.items.empty() else Watch(raw, "sup-a1") for w in watches]
            assert time.monotonic() < deadline, "a fifth watcher was never refused"
        assert all(w.items.empty() for w in watches)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "AVAL_MAX_QUEUE_WATCHERS" in (err.details() or "")
        extra.close()
        watches.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the server notices the hang-up
            again = Watch(raw, "sup-a2")
            time.sleep(0.3)
            if again.items.empty():
                watches.append(again)
                break
            again.close()
            assert time.monotonic() < deadline, "the hung-up watcher's place was never freed"
    finally:
        for watch in watches:
            watch.close()


def test_a_watch_ends_cleanly_when_the_server_stops(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("watch-stop")
    server = ServerProcess.start(database_url, folder, name="watch-stop")
    raw = Raw(server.address)
    try:
        watch = Watch(raw, "sup-a1")
        time.sleep(0.5)
        started = time.monotonic()
        assert server.stop() == 0, server.log_path.read_text()
        # The stream ends (within the shutdown grace of the test servers, 2 s), not hangs.
        assert watch.refusal(timeout=10).code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.CANCELLED,
        )
        assert time.monotonic() - started < 10
        watch.close()
    finally:
        raw.close()
        if server.process.poll() is None:
            server.stop()
