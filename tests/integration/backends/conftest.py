"""The loopback OpenAI-compatible server and the backends the AI backend tests call it with."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aval.service.ai.backends import AdviceRequest, BackendConfig, Backends, Backoff
from tests.openai_server import OpenAIServer
from tests.support import loopback_egress

# The tests' backends may reach loopback, with these secrets (each its own variable).
EGRESS = loopback_egress(secrets=("AVAL_TEST_AI_KEY", "AVAL_TEST_MISSING_KEY"))

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "catégorie": {"type": "string", "enum": ["voirie", "propreté", "éclairage"]},
        "urgence": {"type": "integer", "minimum": 1, "maximum": 3},
        "remarque": {"type": "string", "maxLength": 80},
    },
    "required": ["catégorie", "urgence"],
    "additionalProperties": False,
}
# The repository, from which `python -m tests.openai_server` runs.
ROOT = Path(__file__).resolve().parents[3]
CASE = {"texte": "Lampadaire éteint rue des Lilas : plus d'éclairage depuis lundi", "n": 12}


def _request(version: str = "", **changes: Any) -> AdviceRequest:
    request = AdviceRequest(
        tenant="ville-a",
        decision_type="voirie.signalement",
        decision_id=uuid.uuid4(),
        input=CASE,
        output_schema=SCHEMA,
        model_version=version,
        instructions="Orienter les signalements des habitants vers le service compétent.",
    )
    return replace(request, **changes)


def _config(endpoint: str, model: str = "good", **changes: Any) -> BackendConfig:
    config = BackendConfig(
        tenant="ville-a",
        name="classifieur",
        kind="OPENAI_COMPATIBLE",
        endpoint=endpoint,
        model=model,
        api_key_secret="",
        timeout=5.0,
        max_attempts=1,
    )
    return replace(config, **changes)


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer(slow_seconds=5) as running:
        yield running


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    made = Backends(egress=EGRESS, backoff=Backoff(base=0.01, cap=0.05))
    yield made
    await made.aclose()
