"""The versioned Advisor and OpenAI-compatible backends, their registered systems, and proposal
helpers."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.v1 import advisor_pb2, advisor_pb2_grpc, common_pb2
from tests.openai_server import OpenAIServer

from ..conftest import ClientOf
from ..helpers import all_events

SUGGESTED = common_pb2.ADVICE_STATUS_SUGGESTED
# What each version of the test advisor suggests.
ANSWERS = {"v1": "voirie", "v2": "proprete"}


class VersionedAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """A real Advisor whose answer depends on the version asked; counts the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[advisor_pb2.SuggestRequest] = []

    def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.ServicerContext
    ) -> advisor_pb2.SuggestResponse:
        self.calls.append(request)
        version = request.model_version or "v1"
        reply = advisor_pb2.SuggestResponse(
            confidence=0.8,
            model_version=version,
            explanation=advisor_pb2.Explanation(
                summary=f"service suggéré : {ANSWERS.get(version, 'autre')}",
                factors=[advisor_pb2.Factor(name="mot « trou »", weight=1.5, value="1")],
                sources=["texte du signalement"],
            ),
        )
        # "bad" answers outside the decision type's schema.
        reply.suggestion.update({"service": ANSWERS.get(version, "autre")})
        return reply


@pytest.fixture(scope="package")
def advisor() -> Iterator[tuple[VersionedAdvisor, str]]:
    servicer = VersionedAdvisor()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="package")
def llm() -> Iterator[OpenAIServer]:
    """The loopback OpenAI-compatible server, served by an event loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = OpenAIServer()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def pin(client_of: ClientOf, system: str, version: str) -> None:
    """Four eyes: admin-a asks, admin-a2 approves."""
    request = client_of("admin-a").request_pin(system, version, reason="mise en service")
    client_of("admin-a2").decide_pin(request.id, approve=True, reason="vérifié")


def register(
    client_of: ClientOf, name: str, kind: str, endpoint: str, versions: list[str], **extra: Any
) -> None:
    admin = client_of("admin-a")
    admin.register_ai_system(name, kind=kind, endpoint=endpoint, reason="essai", **extra)
    for version in versions:
        admin.register_model_version(
            name,
            version,
            intended_purpose="orienter les signalements",
            known_limits=[f"{version} : ne lit pas les photos"],
            metrics={"accuracy": 0.9},
        )


@pytest.fixture(scope="package")
def advisor_system(client_of: ClientOf, advisor: tuple[VersionedAdvisor, str]) -> str:
    register(client_of, "ia-advisor", "advisor", advisor[1], ["v1", "v2", "bad"])
    pin(client_of, "ia-advisor", "v1")
    return "ia-advisor"


@pytest.fixture(scope="package")
def llm_system(client_of: ClientOf, llm: OpenAIServer) -> str:
    register(
        client_of,
        "ia-llm",
        "openai",
        llm.url,
        ["good", "garbage", "fail-503"],
        model="good",
        timeout_seconds=5,
        max_attempts=2,
        energy_mwh_per_1k_tokens=300,
        cost_micro_eur_per_1k_tokens=2000,
    )
    pin(client_of, "ia-llm", "good")
    return "ia-llm"


def propose(client: Client, decision_type: str, **changes: Any) -> common_pb2.Decision:
    kwargs: dict[str, Any] = {
        "decision_type": decision_type,
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"description": "un trou dans la chaussée devant l'école"},
        "idempotency_key": str(uuid.uuid4()),
    }
    kwargs.update(changes)
    reply = client.propose(**kwargs)
    return reply.decision  # type: ignore[no-any-return]


def consulted(client_of: ClientOf, decision_id: str) -> list[dict[str, Any]]:
    events = all_events(client_of("insp-a"), decision_id=decision_id, kind="ai.consulted")
    return [json_format.MessageToDict(e.data) for e in events]


def output(decision: common_pb2.Decision) -> dict[str, Any]:
    return json_format.MessageToDict(decision.suggestion.output)
