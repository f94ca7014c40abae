"""Two gateway processes on one database behave as one service; the deadline sweeper expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError
from aval.v1 import common_pb2
from tests.support import ServerProcess, token_of

from .conftest import ClientOf
from .helpers import APPROVED, EXPIRED, PENDING, all_events, propose_kwargs, queue_ids

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def second(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second replica on the shared database, beside the session's gateway."""
    process = ServerProcess.start(
        database_url, tmp_path_factory.mktemp("e2e-replica"), name="replica"
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="module")
def on_second(second: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(second.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


class Watch:
    """A watch in a thread that notes when each version arrived."""

    def __init__(self, client: Client, decision_id: str) -> None:
        self.arrivals: list[tuple[float, common_pb2.Decision]] = []
        self.error: BaseException | None = None
        self.first = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(client, decision_id), daemon=True).start()
        assert self.first.wait(10), "the watch sent nothing"

    def _run(self, client: Client, decision_id: str) -> None:
        try:
            for decision in client.watch_decision(decision_id, timeout=60):
                self.arrivals.append((time.monotonic(), decision))
                self.first.set()
        except BaseException as err:
            self.error = err
        finally:
            self.first.set()
            self.done.set()

    def final(self, within: float) -> tuple[float, common_pb2.Decision]:
        assert self.done.wait(within), f"no final state within {within}s: {self.arrivals}"
        if self.error is not None:
            raise self.error
        return self.arrivals[-1]


def test_approval_through_one_replica_reaches_a_watcher_on_the_other(
    client_of: ClientOf, on_second: Callable[[str], Client]
) -> None:
    d = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    assert d.id in queue_ids(on_second("sup-a1"), decision_type="voirie.signalement")
    watch = Watch(client_of("app-a"), d.id)  # on the first replica
    approved_at = time.monotonic()
    assert on_second("sup-a1").decide(d.id, verdict="approve").state == APPROVED
    seen_at, final = watch.final(within=10)
    assert final.state == APPROVED and final.outcome.fields["accord"].bool_value
    assert [r.reviewer_id for r in final.reviews] == ["sup-a1"]
    # A watch re-reads on its own only every 30 s: this quick, a notification woke it.
    assert seen_at - approved_at < 5, seen_at - approved_at
    assert client_of("app-a").get_decision(d.id).state == APPROVED


def test_two_supervisors_on_the_other_replica(
    client_of: ClientOf, on_second: Callable[[str], Client]
) -> None:
    d = client_of("app-a").propose(**propose_kwargs()).decision
    watch = Watch(client_of("app-a"), d.id)
    claimed = on_second("sup-a1").claim(d.id, lease_seconds=60)
    # The claim made through the second replica binds the first one too.
    with pytest.raises(FailedPreconditionError):
        client_of("sup-a2").decide(d.id, verdict="approve")
    assert claimed.claim.claimed_by == "sup-a1"
    assert on_second("sup-a1").decide(d.id, verdict="approve").state == PENDING
    approved_at = time.monotonic()
    assert on_second("sup-a2").decide(d.id, verdict="approve").state == APPROVED
    seen_at, final = watch.final(within=10)
    assert final.state == APPROVED and final.approvals == 2
    assert seen_at - approved_at < 5
    # Every intermediate version the first replica streamed was still pending.
    states = [decision.state for _, decision in watch.arrivals]
    assert states[-1] == APPROVED and set(states[:-1]) == {PENDING}
    report = client_of("insp-a").verify_chain()
    assert report.ok, list(report.problems)


def test_deadline_expires_without_outcome_I1(
    client_of: ClientOf, on_second: Callable[[str], Client]
) -> None:
    app = client_of("app-a")
    d = app.propose(**propose_kwargs("express.test")).decision  # deadline: 2 s
    assert d.state == PENDING
    started = time.monotonic()
    final = on_second("app-a").wait_for_outcome(d.id, timeout=15)
    assert final.state == EXPIRED
    assert time.monotonic() - started < 8
    assert not final.HasField("outcome") and not final.notice.text
    assert final.approvals == 0 and not final.reviews
    with pytest.raises(FailedPreconditionError):
        client_of("sup-a1").decide(d.id, verdict="approve")
    assert app.get_decision(d.id).state == EXPIRED
    # Both replicas sweep: the decision still expired exactly once.
    kinds = [e.kind for e in all_events(client_of("insp-a"), decision_id=d.id)]
    assert kinds == ["decision.proposed", "decision.expired"]
    assert d.id not in queue_ids(client_of("sup-a1"), decision_type="express.test")
    report = client_of("insp-a").verify_chain()
    assert report.ok, list(report.problems)
