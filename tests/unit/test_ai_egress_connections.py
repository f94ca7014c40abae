"""Connections go only to the addresses the egress policy checked (issue 10, items 1 and 5):
a host name allowed through a network is resolved by the policy, every address must be in the
network, and the connection uses those addresses, so that a second DNS answer (rebinding)
cannot send a call, or its key, elsewhere. Real servers on loopback; names are resolved by a
scripted resolver."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from aval.service.ai.backends import AdviceRequest, BackendConfig, Backends, Backoff, CallOutcome
from aval.service.ai.egress import EgressPolicy, EndpointRule, TenantEgress
from aval.v1 import advisor_pb2, advisor_pb2_grpc
from tests.openai_server import OpenAIServer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"service": {"type": "string", "enum": ["voirie", "eclairage"]}},
    "required": ["service"],
    "additionalProperties": False,
}


class Resolver:
    """Answers each name with the next of its scripted answers (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        script = self.answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


def _policy(resolver: Resolver) -> EgressPolicy:
    loopback = EndpointRule(network=ipaddress.ip_network("127.0.0.1/32"))
    return EgressPolicy(
        {"ville-a": TenantEgress({"cle": "AVAL_TEST_CONNECTIONS_KEY"}, (loopback,))},
        source="tests",
        resolver=resolver,
    )


def _config(kind: str, endpoint: str) -> BackendConfig:
    return BackendConfig(
        tenant="ville-a",
        name="orienteur",
        kind=kind,  # type: ignore[arg-type]
        endpoint=endpoint,
        model="good",
        api_key_secret="cle",
        timeout=5.0,
        max_attempts=1,
    )


def _request() -> AdviceRequest:
    return AdviceRequest(
        tenant="ville-a",
        decision_type="voirie.signalement",
        decision_id=uuid.uuid4(),
        input={"texte": "lampadaire éteint, service eclairage"},
        output_schema=SCHEMA,
        model_version="",
        instructions="Orienter les signalements.",
    )


@pytest.fixture
async def llm() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVAL_TEST_CONNECTIONS_KEY", "sk-connections")


async def _suggest_through(llm: OpenAIServer, answers: list[list[str]]) -> CallOutcome:
    """One suggestion from `llm` named ia.interne.example, whose name resolves to `answers`
    (one list of addresses per lookup)."""
    resolver = Resolver({"ia.interne.example": answers})
    backends = Backends(egress=_policy(resolver), backoff=Backoff(0, 0))
    try:
        endpoint = f"http://ia.interne.example:{llm.port}/v1"
        return await backends.suggest(_config("OPENAI_COMPATIBLE", endpoint), _request())
    finally:
        await backends.aclose()


async def test_a_name_allowed_through_a_network_is_reached_at_its_checked_address(
    llm: OpenAIServer,
) -> None:
    outcome = await _suggest_through(llm, [["127.0.0.1"]])
    # The system resolver knows no such name: the connection went to the checked address.
    assert outcome.status == "SUGGESTED", outcome.detail
    [sent] = llm.chat_requests()
    assert sent.headers["host"] == f"ia.interne.example:{llm.port}"
    assert sent.headers["authorization"] == "Bearer sk-connections"


@pytest.mark.parametrize(
    "answers",
    [
        [["127.0.0.1", "169.254.169.254"]],  # one address outside the network
        [["10.0.0.1"]],
        [["127.0.0.1"], ["169.254.169.254"]],  # rebinding: the check, then the connection
    ],
    ids=["split", "outside", "rebinding"],
)
async def test_no_request_and_no_key_leave_for_an_address_outside_the_allow_list(
    llm: OpenAIServer, answers: list[list[str]]
) -> None:
    outcome = await _suggest_through(llm, answers)
    assert outcome.status == "UNAVAILABLE" and outcome.advice is None
    assert llm.requests == []
    assert "169.254" not in outcome.detail and "10.0.0.1" not in outcome.detail


class Advisor(advisor_pb2_grpc.AdvisorServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> advisor_pb2.SuggestResponse:
        self.calls += 1
        response = advisor_pb2.SuggestResponse(model_version="v1", confidence=0.8)
        response.suggestion.update({"service": "eclairage"})
        return response


@pytest.fixture
async def advisor() -> AsyncIterator[tuple[Advisor, int]]:
    server = grpc.aio.server()
    servicer = Advisor()
    advisor_pb2_grpc.add_AdvisorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


@pytest.mark.parametrize(
    ("answers", "reached"),
    [([["127.0.0.1"]], True), ([["127.0.0.1"], ["169.254.169.254"]], False)],
    ids=["checked", "rebinding"],
)
async def test_an_advisor_is_reached_only_at_checked_addresses(
    advisor: tuple[Advisor, int], answers: list[list[str]], reached: bool
) -> None:
    servicer, port = advisor
    resolver = Resolver({"conseil.interne.example": answers})
    backends = Backends(egress=_policy(resolver), backoff=Backoff(0, 0))
    config = _config("ADVISOR", f"conseil.interne.example:{port}")
    try:
        first = await backends.suggest(config, _request())
        second = await backends.suggest(config, _request())
    finally:
        await backends.aclose()
    assert first.status == "SUGGESTED", first.detail
    assert (second.status == "SUGGESTED") is reached
    assert servicer.calls == (2 if reached else 1)
