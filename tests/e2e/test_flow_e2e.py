"""The review flow over gRPC against the real server process, and invariants I1–I5 and I7."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from aval.v1 import common_pb2

from .conftest import ClientOf
from .helpers import (
    AMENDED,
    APPROVED,
    GENESIS,
    PENDING,
    REJECTED,
    SUGGESTION,
    all_events,
    chain_hash,
    propose_kwargs,
    queue_ids,
)

pytestmark = pytest.mark.e2e


def as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message)


class Watcher:
    """Watches a decision in a thread; `started` is set once the first version arrived."""

    def __init__(self, client: Client, decision_id: str, **kwargs: Any) -> None:
        self.seen: list[common_pb2.Decision] = []
        self.error: BaseException | None = None
        self.started = threading.Event()
        self.ended = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(client, decision_id, kwargs), daemon=True
        )
        self._thread.start()
        assert self.started.wait(10), "the watch sent nothing"

    def _run(self, client: Client, decision_id: str, kwargs: dict[str, Any]) -> None:
        try:
            for decision in client.watch_decision(decision_id, timeout=30, **kwargs):
                self.seen.append(decision)
                self.started.set()
        except BaseException as err:
            self.error = err
        finally:
            self.started.set()
            self.ended.set()

    def result(self, timeout: float) -> list[common_pb2.Decision]:
        assert self.ended.wait(timeout), "the watch did not end with the final state"
        if self.error is not None:
            raise self.error
        return self.seen


def test_full_review_story(client_of: ClientOf) -> None:
    app, sup1, sup2, insp = (client_of(p) for p in ("app-a", "sup-a1", "sup-a2", "insp-a"))
    proposed = app.propose(**propose_kwargs(model="bareme@2026.1", confidence=0.8))
    d = proposed.decision
    assert not proposed.replayed
    assert d.state == PENDING and d.required_approvals == 2 and d.approvals == 0
    assert d.suggestion.model.name == "bareme" and d.suggestion.model.version == "2026.1"
    assert not d.HasField("outcome") and not d.notice.text
    watcher = Watcher(app, d.id)

    assert d.id in queue_ids(sup1, decision_type="aides.attribution", actionable_only=True)
    claimed = sup1.claim(d.id)
    assert claimed.claim.claimed_by == "sup-a1"
    assert d.id not in queue_ids(sup2, actionable_only=True), "claimed by someone else"

    first = sup1.decide(d.id, verdict="approve")
    assert first.state == PENDING and first.approvals == 1
    assert not first.HasField("outcome") and not first.notice.text
    still = app.get_decision(d.id)
    assert still.state == PENDING and still.approvals == 1 and not still.HasField("outcome")

    final = sup2.decide(d.id, verdict="approve")
    assert final.state == APPROVED and final.approvals == 2

    got = app.get_decision(d.id)
    assert got.state == APPROVED
    assert as_dict(got.outcome) == SUGGESTION
    assert [r.reviewer_id for r in got.reviews] == ["sup-a1", "sup-a2"]
    assert all(r.verdict == common_pb2.VERDICT_APPROVE for r in got.reviews)
    assert got.finalized_at.seconds > 0
    assert got.notice.language == "fr"
    assert "L311-3-1" in got.notice.text and "Cette décision" in got.notice.text
    english = app.get_decision(d.id, language="en")
    assert english.notice.language == "en"
    assert "L311-3-1" in english.notice.text and "This decision" in english.notice.text
    assert english.notice.text != got.notice.text

    updates = watcher.result(timeout=15)
    assert updates[0].state == PENDING
    assert updates[-1].state == APPROVED and as_dict(updates[-1].outcome) == SUGGESTION
    assert "L311-3-1" in updates[-1].notice.text
    assert all(u.state == PENDING for u in updates[:-1])
    versions = [u.version for u in updates]
    assert versions == sorted(set(versions)), versions

    report = insp.verify_chain()
    assert report.ok, list(report.problems)
    assert report.decisions_checked >= 1 and report.events_checked >= 5

    pages, events, token = 0, [], ""
    while True:
        page = insp.query_events(decision_id=d.id, page_size=2, page_token=token)
        assert len(page.events) <= 2
        pages += 1
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            break
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), seqs
    assert [e.kind for e in events] == [
        "decision.proposed",
        "decision.claimed",
        "review.recorded",
        "review.recorded",
        "decision.finalized",
    ]
    assert pages == 3
    assert {e.decision_id for e in events} == {d.id}
    assert seqs == [e.seq for e in insp.query_events(decision_id=d.id, page_size=1000).events]
    assert [e.actor_id for e in events] == ["app-a", "sup-a1", "sup-a1", "sup-a2", "sup-a2"]


def test_watch_of_a_final_decision_sends_it_once_and_ends(client_of: ClientOf) -> None:
    app, sup = client_of("app-a"), client_of("sup-a1")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    sup.decide(d.id, verdict="reject", justification="hors compétence communale")
    updates = list(app.watch_decision(d.id, language="en", timeout=10))
    assert [u.state for u in updates] == [REJECTED]
    assert updates[0].notice.language == "en" and not updates[0].HasField("outcome")


def test_reply_is_sent_after_commit_I7(client_of: ClientOf, database_url: str) -> None:
    app, sup = client_of("app-a"), client_of("sup-a1")

    def propose_then_look(_: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for _ in range(4):
                d = app.propose(**propose_kwargs("voirie.signalement")).decision
                # Nothing waited for: the reply must already stand for committed rows.
                row = conn.execute(
                    "SELECT state, version FROM aval.decisions WHERE tenant_id = %s AND id = %s",
                    ("ville-a", d.id),
                ).fetchone()
                assert row == ("PENDING_REVIEW", d.version), d.id
                kinds = conn.execute(
                    "SELECT kind FROM aval.audit_events WHERE tenant_id = %s AND decision_id = %s",
                    ("ville-a", d.id),
                ).fetchall()
                assert kinds == [("decision.proposed",)], d.id
                done = sup.decide(d.id, verdict="approve")
                row = conn.execute(
                    "SELECT state, version FROM aval.decisions WHERE tenant_id = %s AND id = %s",
                    ("ville-a", d.id),
                ).fetchone()
                assert row == ("APPROVED", done.version)
                reviews = conn.execute(
                    "SELECT reviewer_id, verdict FROM aval.reviews"
                    " WHERE tenant_id = %s AND decision_id = %s",
                    ("ville-a", d.id),
                ).fetchall()
                assert reviews == [("sup-a1", "APPROVE")]

    # Concurrent proposals share one transaction (group commit): each reply still follows it.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(propose_then_look, range(4)))


def test_idempotent_propose_I4(client_of: ClientOf, database_url: str) -> None:
    app = client_of("app-a")
    kwargs = propose_kwargs()
    first = app.propose(**kwargs)
    again = app.propose(**kwargs)
    assert not first.replayed and again.replayed
    assert again.decision.id == first.decision.id
    assert again.decision.version == first.decision.version
    assert again.decision.input_sha256 == first.decision.input_sha256

    with pytest.raises(AlreadyExistsError) as reused:
        app.propose(**{**kwargs, "input": {"quotient_familial": 641, "demande": "aide cantine"}})
    assert reused.value.reason == "IDEMPOTENCY_KEY_REUSED"
    with pytest.raises(AlreadyExistsError):
        app.propose(**{**kwargs, "suggestion": {"accord": False}})

    # Retries racing each other still make one decision.
    racing = propose_kwargs("voirie.signalement")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: app.propose(**racing), range(6)))
    assert len({a.decision.id for a in answers}) == 1
    assert sorted(a.replayed for a in answers) == [False] + [True] * 5

    with psycopg.connect(database_url) as conn:
        for key in (kwargs["idempotency_key"], racing["idempotency_key"]):
            (count,) = conn.execute(
                "SELECT count(*) FROM aval.decisions WHERE tenant_id = %s AND idempotency_key = %s",
                ("ville-a", key),
            ).fetchone() or (None,)
            assert count == 1, key
    events = all_events(client_of("insp-a"), decision_id=first.decision.id)
    assert [e.kind for e in events] == ["decision.proposed"]


def test_other_tenant_cannot_read_I5(client_of: ClientOf) -> None:
    d = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    app_b, sup_b, insp_b = client_of("app-b"), client_of("sup-b"), client_of("insp-b")

    with pytest.raises(NotFoundError):  # looked up in the caller's own tenant
        app_b.get_decision(d.id)
    with pytest.raises(NotFoundError):
        list(app_b.watch_decision(d.id, timeout=10))
    with pytest.raises(PermissionDeniedError):
        app_b.get_decision(d.id, tenant="ville-a")
    with pytest.raises(PermissionDeniedError):
        list(app_b.watch_decision(d.id, tenant="ville-a", timeout=10))
    with pytest.raises(PermissionDeniedError):
        app_b.propose(**propose_kwargs("voirie.signalement", tenant="ville-a"))
    with pytest.raises(PermissionDeniedError):
        sup_b.list_queue(tenant="ville-a")
    with pytest.raises(PermissionDeniedError):
        sup_b.claim(d.id, tenant="ville-a")
    with pytest.raises(PermissionDeniedError):
        sup_b.decide(d.id, verdict="approve", tenant="ville-a")
    with pytest.raises(NotFoundError):
        sup_b.decide(d.id, verdict="approve")
    assert d.id not in queue_ids(sup_b)
    for call in (
        lambda: insp_b.query_events(tenant="ville-a"),
        lambda: insp_b.verify_chain(tenant="ville-a"),
        lambda: insp_b.explain_decision(d.id, tenant="ville-a"),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    assert list(insp_b.query_events(decision_id=d.id).events) == []

    # Nothing was changed by the refused calls.
    still = client_of("app-a").get_decision(d.id)
    assert still.state == PENDING and still.version == d.version and not still.reviews

    # A pooled inspector reads ville-a only because it was granted explicitly.
    pooled = client_of("insp-pool")
    events = pooled.query_events(tenant="ville-a", decision_id=d.id).events
    assert [e.kind for e in events] == ["decision.proposed"]


def test_proposer_cannot_approve_I1(client_of: ClientOf) -> None:
    both = client_of("appsup-a")  # an application that also holds the supervisor role
    d = both.propose(**propose_kwargs("voirie.signalement")).decision
    with pytest.raises(PermissionDeniedError) as refused:
        both.decide(d.id, verdict="approve")
    assert refused.value.reason == "PROPOSER_CANNOT_REVIEW"
    with pytest.raises(PermissionDeniedError):
        both.claim(d.id)
    with pytest.raises(PermissionDeniedError):
        both.decide(
            d.id, verdict="amend", amended_output={"service": "voirie"}, justification="moi"
        )
    assert d.id not in queue_ids(both, actionable_only=True)
    assert d.id in queue_ids(client_of("sup-a1"), actionable_only=True)
    # An inspector is no eligible reviewer either.
    with pytest.raises(PermissionDeniedError):
        client_of("insp-a").decide(d.id, verdict="approve", tenant="ville-a")

    still = both.get_decision(d.id)
    assert still.state == PENDING and still.approvals == 0 and not still.reviews
    assert [e.kind for e in all_events(client_of("insp-a"), decision_id=d.id)] == [
        "decision.proposed"
    ]

    # A quorum of two needs two distinct people: one cannot approve twice.
    q = client_of("app-a").propose(**propose_kwargs()).decision
    client_of("sup-a1").decide(q.id, verdict="approve")
    with pytest.raises(FailedPreconditionError):
        client_of("sup-a1").decide(q.id, verdict="approve")
    assert client_of("app-a").get_decision(q.id).state == PENDING


def test_trail_verifies_I2_I3(client_of: ClientOf) -> None:
    app, sup1, sup2, insp = (client_of(p) for p in ("app-a", "sup-a1", "sup-a2", "insp-a"))
    amended = app.propose(**propose_kwargs()).decision
    claimed = sup1.claim(amended.id, lease_seconds=60)
    # A refused verdict writes nothing.
    with pytest.raises(InvalidArgumentError) as refused:
        sup1.decide(amended.id, verdict="reject")
    assert [v.field for v in refused.value.violations] == ["justification"]
    after = app.get_decision(amended.id)
    assert after.version == claimed.version and not after.reviews
    sup1.decide(
        amended.id,
        verdict="amend",
        amended_output={"accord": True, "montant_centimes": 10000},
        justification="montant plafonné par la délibération 2026-14",
    )
    done = sup2.decide(amended.id, verdict="approve")
    assert done.state == AMENDED
    assert as_dict(done.outcome) == {"accord": True, "montant_centimes": 10000}

    rejected = app.propose(**propose_kwargs("voirie.signalement")).decision
    assert sup2.decide(rejected.id, verdict="reject", justification="doublon").state == REJECTED

    kinds = {
        amended.id: [
            "decision.proposed",
            "decision.claimed",
            "review.recorded",
            "review.recorded",
            "decision.finalized",
        ],
        rejected.id: ["decision.proposed", "review.recorded", "decision.finalized"],
    }
    for decision_id, expected in kinds.items():
        assert [e.kind for e in all_events(insp, decision_id=decision_id)] == expected

    # The whole chain of the tenant, checked here independently of the server's verifier.
    events = all_events(insp)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    previous = GENESIS
    last_state: dict[str, str] = {}
    for event in events:
        assert event.tenant == "ville-a"
        assert event.prev_hash == previous, event.seq
        assert chain_hash(event.prev_hash, event.seq, event.canonical) == event.hash, event.seq
        body = json.loads(event.canonical)
        assert (body["kind"], body["actor"]["id"]) == (event.kind, event.actor_id)
        assert body["decision_id"] == event.decision_id
        if "decision_state" in body["data"]:
            last_state[event.decision_id] = body["data"]["decision_state"]
        previous = event.hash
    assert last_state[amended.id] == "AMENDED" and last_state[rejected.id] == "REJECTED"

    report = insp.verify_chain()
    assert report.ok, list(report.problems)
    assert report.events_checked == len(events)
    assert report.head_hash == events[-1].hash
    assert report.decisions_checked == len(last_state)
