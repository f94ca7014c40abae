"""Idempotency keys are scoped per caller and tenant, also under concurrency and through the AI
path (I4)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import AlreadyExistsError
from tests.support import ServerProcess, token_of

from ..conftest import ClientOf
from ..helpers import all_events, propose_kwargs

# ---------------------------------------------------------------------------------------------
# Item 15: idempotency keys belong to (tenant, proposer, key) (I4, I5)
# ---------------------------------------------------------------------------------------------


def test_another_caller_reusing_a_key_gets_its_own_decision_I4(client_of: ClientOf) -> None:
    app, other = client_of("app-a"), client_of("appsup-a")
    key = f"cle-{uuid.uuid4()}"
    mine = propose_kwargs(idempotency_key=key)
    theirs = propose_kwargs(idempotency_key=key)  # another subject: another body
    first = app.propose(**mine)
    assert not first.replayed
    second = other.propose(**theirs)  # no error: the key being taken by app-a is not revealed
    assert not second.replayed
    assert second.decision.id != first.decision.id
    assert second.decision.proposer_id == "appsup-a"
    assert second.decision.subject_ref == theirs["subject_ref"]
    # Each replay answers with the caller's own decision, never the other's.
    assert app.propose(**mine).decision.id == first.decision.id
    assert other.propose(**theirs).decision.id == second.decision.id
    # A caller reusing its own key with another body is refused: each key is its caller's own.
    with pytest.raises(AlreadyExistsError):
        app.propose(**theirs)
    with pytest.raises(AlreadyExistsError):
        other.propose(**mine)


def test_the_same_key_in_another_tenant_is_independent_I4(client_of: ClientOf) -> None:
    key = f"cle-{uuid.uuid4()}"
    a = client_of("app-a").propose(**propose_kwargs("voirie.signalement", idempotency_key=key))
    b = client_of("app-b").propose(**propose_kwargs("voirie.signalement", idempotency_key=key))
    assert a.decision.id != b.decision.id and not b.replayed


def test_concurrent_proposals_with_one_key_by_two_callers_stay_apart_I4(
    client_of: ClientOf, server: ServerProcess
) -> None:
    started = datetime.now(UTC)
    key = f"cle-{uuid.uuid4()}"
    bodies = {
        pid: propose_kwargs("voirie.signalement", idempotency_key=key)
        for pid in ("app-a", "appsup-a")
    }
    clients = {pid: Client(server.address, token_of(pid), timeout=30) for pid in bodies}
    results: dict[str, list[Any]] = {pid: [] for pid in bodies}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def run(pid: str) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[pid].append(clients[pid].propose(**bodies[pid]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(pid,)) for pid in bodies for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients.values():
        c.close()
    assert not errors, errors
    ids = {pid: {r.decision.id for r in replies} for pid, replies in results.items()}
    assert all(len(found) == 1 for found in ids.values()), ids
    assert ids["app-a"] != ids["appsup-a"]
    for pid, replies in results.items():
        assert {r.decision.proposer_id for r in replies} == {pid}
        assert {r.decision.subject_ref for r in replies} == {bodies[pid]["subject_ref"]}
        assert sum(not r.replayed for r in replies) == 1
    # One decision.proposed event each, by its own proposer: never a duplicate.
    proposed = [
        e
        for e in all_events(client_of("insp-a"), kind="decision.proposed", since=started)
        if e.data["idempotency_key"] == key
    ]
    assert sorted(e.actor_id for e in proposed) == ["app-a", "appsup-a"]


def test_a_replay_through_the_ai_path_answers_only_its_own_proposer_I4(
    client_of: ClientOf,
) -> None:
    """A type whose AI system is consulted looks the key up before asking the AI: per caller too."""
    key = f"cle-{uuid.uuid4()}"
    body = {
        "decision_type": "signalement.llm",
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"texte": "lampadaire en panne"},
        "idempotency_key": key,
    }
    first = client_of("app-a").propose(**body)
    other = client_of("appsup-a").propose(**body)
    assert other.decision.id != first.decision.id and not other.replayed
    assert client_of("app-a").propose(**body).decision.id == first.decision.id
    assert client_of("appsup-a").propose(**body).decision.id == other.decision.id
