"""The kill switch reaches every replica; high-risk types use only pinned models; slow backends
time out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError
from aval.v1 import common_pb2
from tests.openai_server import OpenAIServer
from tests.support import ServerProcess, token_of

from ..conftest import ClientOf
from ..helpers import PENDING, all_events
from .conftest import SUGGESTED, VersionedAdvisor, consulted, pin, propose, register

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replica(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess.start(
        database_url, tmp_path_factory.mktemp("e2e-ai-replica"), name="ai-replica"
    )
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def on_replica(replica: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(replica.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


@pytest.mark.parametrize(
    ("scope", "target"),
    [("ai_system", "ia-advisor"), ("decision_type", "signalement.ia"), ("tenant", "")],
)
def test_the_kill_switch_takes_effect_on_every_replica_within_a_second(
    client_of: ClientOf,
    on_replica: Callable[[str], Client],
    advisor: tuple[VersionedAdvisor, str],
    advisor_system: str,
    scope: str,
    target: str,
) -> None:
    servicer, _ = advisor
    client_of("admin-a").stop_ai(scope, target, reason="réponses incohérentes")  # type: ignore[arg-type]
    stopped_at = time.monotonic()
    try:
        before = len(servicer.calls)
        decision = propose(on_replica("app-a"), "signalement.ia")
        assert time.monotonic() - stopped_at < 1.0
        assert decision.advice_status == common_pb2.ADVICE_STATUS_STOPPED
        assert decision.advice_reason == "AI_STOPPED"
        assert "arrêt d'urgence" in decision.advice_detail
        assert "réponses incohérentes" in decision.advice_detail
        assert decision.state == PENDING  # still accepted, for a human
        assert len(servicer.calls) == before  # no call reached the AI
    finally:
        on_replica("admin-a2").resume_ai(scope, target, reason="corrigé")  # type: ignore[arg-type]
    assert propose(client_of("app-a"), "signalement.ia").advice_status == SUGGESTED
    kinds = [e.kind for e in all_events(client_of("insp-a"), kind="admin.ai_stopped")]
    assert kinds


def test_a_high_risk_type_uses_only_a_registered_pinned_model(
    client_of: ClientOf, advisor: tuple[VersionedAdvisor, str]
) -> None:
    app = client_of("app-a")
    unregistered = propose(app, "permis.risque")
    assert unregistered.advice_status == common_pb2.ADVICE_STATUS_STOPPED
    assert "n'est pas enregistré" in unregistered.advice_detail  # French for agents
    in_english = app.get_decision(unregistered.id, language="en")
    assert "is not registered" in in_english.advice_detail
    register(client_of, "ia-permis", "advisor", advisor[1], ["v1"])
    unpinned = propose(app, "permis.risque")
    assert unpinned.advice_status == common_pb2.ADVICE_STATUS_STOPPED
    assert "pas de version épinglée" in unpinned.advice_detail
    attested = {"suggestion": {"service": "voirie"}, "confidence": 0.7}
    with pytest.raises(FailedPreconditionError) as not_pinned:
        propose(app, "permis.risque", model="ia-permis@v1", **attested)
    assert not_pinned.value.reason == "HIGH_RISK_MODEL_NOT_PINNED"
    with pytest.raises(FailedPreconditionError) as other:
        propose(app, "permis.risque", model="mon-modele@1", **attested)
    assert other.value.reason == "HIGH_RISK_MODEL_NOT_REGISTERED"
    pin(client_of, "ia-permis", "v1")
    assert propose(app, "permis.risque").advice_status == SUGGESTED
    ok = propose(app, "permis.risque", model="ia-permis@v1", **attested)
    assert ok.advice_status == common_pb2.ADVICE_STATUS_ATTESTED


def test_a_slow_backend_times_out_and_the_proposal_still_queues(
    client_of: ClientOf, llm: OpenAIServer, llm_system: str
) -> None:
    admin = client_of("admin-a")
    admin.register_model_version(llm_system, "slow-3", intended_purpose="lent")
    admin.register_ai_system(
        llm_system,
        kind="openai",
        endpoint=llm.url,
        model="good",
        timeout_seconds=0.5,
        max_attempts=1,
        reason="essai d'un modèle lent",
    )
    pin(client_of, llm_system, "slow-3")
    try:
        began = time.monotonic()
        decision = propose(client_of("app-a"), "signalement.llm")
        assert time.monotonic() - began < 3  # the timeout, not the backend, decided
    finally:
        pin(client_of, llm_system, "good")
        admin.register_ai_system(
            llm_system,
            kind="openai",
            endpoint=llm.url,
            model="good",
            timeout_seconds=5,
            max_attempts=2,
            reason="retour à la normale",
        )
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.state == PENDING and not decision.HasField("suggestion")
    [call] = consulted(client_of, decision.id)
    assert call["status"] == "UNAVAILABLE" and "within 0.5 s" in call["detail"]
