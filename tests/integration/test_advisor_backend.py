"""The gRPC `Advisor` backend against a real grpc.aio server on loopback, implementing the
contract of proto/aval/v1/advisor.proto with scripted behaviours."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from aval.service.ai.backends import AdviceRequest, BackendConfig, Backends, Backoff
from aval.v1 import advisor_pb2, advisor_pb2_grpc
from tests.support import loopback_egress

# The tests' advisors are on loopback; the key is read from the variable of the same name.
EGRESS = loopback_egress(secrets=("AVAL_TEST_ADVISOR_KEY",))

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "catégorie": {"type": "string", "enum": ["voirie", "propreté", "éclairage"]},
        "urgence": {"type": "integer", "minimum": 1, "maximum": 3},
    },
    "required": ["catégorie", "urgence"],
    "additionalProperties": False,
}


@dataclass
class ScriptedAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """Answers by decision type: `good` (default), `lent` (slow), `hors-schema`, `confiance`
    (confidence outside [0, 1]), `refus` (INVALID_ARGUMENT), `indisponible-N` (UNAVAILABLE
    N times, then good). A model version `menteur` gets an answer from another version."""

    received: list[tuple[advisor_pb2.SuggestRequest, dict[str, str]]] = field(default_factory=list)
    failures: int = 0

    async def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> advisor_pb2.SuggestResponse:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.received.append((request, metadata))
        kind = request.decision_type
        if kind == "lent":
            await asyncio.sleep(5)
        if kind == "refus":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "input lacks 'texte'")
        if kind.startswith("indisponible-") and self.failures < int(kind.split("-")[1]):
            self.failures += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        version = request.model_version or "lineaire-3"
        response = advisor_pb2.SuggestResponse(
            model_version="lineaire-2" if request.model_version == "menteur" else version,
            usage=advisor_pb2.Usage(input_tokens=17, output_tokens=2),
        )
        response.confidence = 1.5 if kind == "confiance" else 0.82
        suggestion = {"catégorie": "éclairage", "urgence": 2}
        if kind == "hors-schema":
            suggestion = {"catégorie": "urgent", "urgence": 2}
        response.suggestion.update(suggestion)
        response.explanation.summary = "Le mot « lampadaire » oriente vers l'éclairage."
        response.explanation.factors.add(name="mot « lampadaire »", weight=1.7, value="1")
        response.explanation.sources.append("signalements 2023-2024 de la ville")
        return response


@dataclass
class Running:
    advisor: ScriptedAdvisor
    endpoint: str


@pytest.fixture
async def advisor() -> AsyncIterator[Running]:
    server = grpc.aio.server()
    scripted = ScriptedAdvisor()
    advisor_pb2_grpc.add_AdvisorServicer_to_server(scripted, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield Running(scripted, f"127.0.0.1:{port}")
    await server.stop(None)


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    made = Backends(egress=EGRESS, backoff=Backoff(base=0.01, cap=0.05))
    yield made
    await made.aclose()


def _config(endpoint: str, **changes: Any) -> BackendConfig:
    config = BackendConfig(
        tenant="ville-a",
        name="triage",
        kind="ADVISOR",
        endpoint=endpoint,
        model="",
        api_key_secret="",
        timeout=5.0,
        max_attempts=1,
    )
    return replace(config, **changes)


def _request(decision_type: str = "good", version: str = "lineaire-3") -> AdviceRequest:
    return AdviceRequest(
        tenant="ville-a",
        decision_type=decision_type,
        decision_id=uuid.uuid4(),
        input={"texte": "lampadaire éteint", "quartier": 4},
        output_schema=SCHEMA,
        model_version=version,
        instructions="Orienter les signalements.",
    )


async def test_a_good_answer_is_suggested_with_its_explanation(
    advisor: Running, backends: Backends
) -> None:
    request = _request()
    outcome = await backends.suggest(_config(advisor.endpoint), request)
    assert (outcome.status, outcome.attempts) == ("SUGGESTED", 1)
    advice = outcome.advice
    assert advice is not None
    # A Struct carries numbers as doubles: 2.0 is read back as the integer it is.
    assert advice.output == {"catégorie": "éclairage", "urgence": 2}
    assert advice.confidence == pytest.approx(0.82)
    assert advice.explanation.startswith("Le mot « lampadaire »")
    assert [(f.name, f.weight, f.value) for f in advice.factors] == [
        ("mot « lampadaire »", 1.7, "1")
    ]
    assert advice.sources == ("signalements 2023-2024 de la ville",)
    assert advice.model_version == "lineaire-3"
    assert (outcome.input_tokens, outcome.output_tokens) == (17, 2)
    [(sent, _metadata)] = advisor.advisor.received
    assert (sent.tenant, sent.decision_type, sent.model_version) == (
        "ville-a",
        "good",
        "lineaire-3",
    )
    assert sent.decision_id == str(request.decision_id)
    assert json_format.MessageToDict(sent.input) == {"texte": "lampadaire éteint", "quartier": 4}
    assert json_format.MessageToDict(sent.output_schema)["required"] == ["catégorie", "urgence"]


async def test_an_advisor_answering_with_another_version_is_invalid_output(
    advisor: Running, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(advisor.endpoint), _request(version="menteur"))
    assert (outcome.status, outcome.advice) == ("INVALID_OUTPUT", None)
    assert "'lineaire-2'" in outcome.detail and "'menteur'" in outcome.detail


@pytest.mark.parametrize(
    ("decision_type", "expected"),
    [
        ("hors-schema", "catégorie: Input should be 'voirie', 'propreté' or 'éclairage'"),
        ("confiance", "confidence 1.5 is outside [0, 1]"),
    ],
)
async def test_an_answer_outside_the_contract_is_invalid_output(
    advisor: Running, backends: Backends, decision_type: str, expected: str
) -> None:
    config = _config(advisor.endpoint, max_attempts=3)
    outcome = await backends.suggest(config, _request(decision_type))
    assert (outcome.status, outcome.advice, outcome.attempts) == ("INVALID_OUTPUT", None, 1)
    assert expected in outcome.detail
    assert outcome.input_tokens == 17  # the tokens it cost are still recorded


async def test_a_slow_advisor_is_unavailable_at_the_deadline(
    advisor: Running, backends: Backends
) -> None:
    config = _config(advisor.endpoint, timeout=0.2, max_attempts=2)
    outcome = await backends.suggest(config, _request("lent"))
    assert (outcome.status, outcome.advice, outcome.attempts) == ("UNAVAILABLE", None, 2)
    assert outcome.detail.startswith("no answer within 0.2 s")


async def test_unavailable_is_retried_and_other_codes_are_not(
    advisor: Running, backends: Backends
) -> None:
    config = _config(advisor.endpoint, max_attempts=3)
    recovered = await backends.suggest(config, _request("indisponible-2"))
    assert (recovered.status, recovered.attempts) == ("SUGGESTED", 3)
    refused = await backends.suggest(config, _request("refus"))
    assert (refused.status, refused.attempts) == ("UNAVAILABLE", 1)
    # The status only: the details are the remote's text (issue 10, item 5).
    assert refused.detail == "the advisor failed with INVALID_ARGUMENT"


async def test_an_advisor_that_is_not_there_is_unavailable(backends: Backends) -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, then released
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await backends.suggest(_config(f"127.0.0.1:{port}", max_attempts=2), _request())
    assert (outcome.status, outcome.attempts) == ("UNAVAILABLE", 2)
    assert "UNAVAILABLE" in outcome.detail


async def test_trace_context_and_api_key_travel_in_the_metadata(
    advisor: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAL_TEST_ADVISOR_KEY", "cle-advisor")
    provider = TracerProvider()
    backends = Backends(egress=EGRESS, tracer_provider=provider)
    config = _config(advisor.endpoint, api_key_secret="AVAL_TEST_ADVISOR_KEY")
    try:
        with provider.get_tracer("test").start_as_current_span(
            "Propose", kind=SpanKind.SERVER
        ) as parent:
            outcome = await backends.suggest(config, _request())
    finally:
        await backends.aclose()
    assert outcome.status == "SUGGESTED"
    [(_sent, metadata)] = advisor.advisor.received
    assert metadata["authorization"] == "Bearer cle-advisor"
    trace_id = metadata["traceparent"].split("-")[1]
    assert trace_id == format(parent.get_span_context().trace_id, "032x")
