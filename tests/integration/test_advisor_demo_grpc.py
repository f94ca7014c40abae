"""The demo advisor over gRPC on loopback: in process, and as the standalone process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_status import rpc_status

from aval.service.ai.advisor_demo import (
    OUTPUT_SCHEMA,
    AdvisorStartError,
    DemoModel,
    start_demo_advisor,
    train_demo_model,
)
from aval.v1 import advisor_pb2, advisor_pb2_grpc
from tests.support import unpacked_details


@pytest.fixture(scope="module")
def model() -> DemoModel:
    return train_demo_model()


@pytest.fixture(scope="module")
async def advisor(model: DemoModel) -> AsyncIterator[advisor_pb2_grpc.AdvisorStub]:
    server, port = await start_demo_advisor("127.0.0.1:0", model=model)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield advisor_pb2_grpc.AdvisorStub(channel)
    await server.stop(None)


def _request(case: dict[str, Any], version: str = "") -> advisor_pb2.SuggestRequest:
    request = advisor_pb2.SuggestRequest(
        tenant="ville-demo",
        decision_type="voirie.signalement",
        model_version=version,
        decision_id="0b4f3e0e-8a52-4b8e-9c8e-5d1e2a3b4c5d",
    )
    request.input.update(case)
    request.output_schema.update(OUTPUT_SCHEMA)
    return request


def _details(error: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    return unpacked_details(status)


async def test_a_report_gets_a_service_a_confidence_and_its_explanation(
    advisor: advisor_pb2_grpc.AdvisorStub, model: DemoModel
) -> None:
    case = {
        "description": "Le lampadaire de la rue est éteint depuis trois nuits",
        "categorie_declaree": "voirie",
    }
    response = await advisor.Suggest(_request(case))
    assert json_format.MessageToDict(response.suggestion) == {"service": "eclairage"}
    assert response.model_version == model.version
    assert 0.5 < response.confidence <= 1.0
    explanation = response.explanation
    assert explanation.summary.startswith("Service suggéré : éclairage (confiance 0,")
    assert "« lampadaire »" in explanation.summary
    names = [f.name for f in explanation.factors]
    assert names[0] == "mot « lampadaire »"
    assert names[-1] == "constante (biais) du service « éclairage »"
    assert all(f.value == "1" for f in explanation.factors[:-1])
    assert len(explanation.sources) == 2
    assert response.usage.input_tokens == 10
    assert response.usage.output_tokens == 1


async def test_the_pinned_version_is_served(
    advisor: advisor_pb2_grpc.AdvisorStub, model: DemoModel
) -> None:
    response = await advisor.Suggest(_request({"description": "nid de poule"}, model.version))
    assert json_format.MessageToDict(response.suggestion) == {"service": "voirie"}
    assert response.model_version == model.version


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({}, "DESCRIPTION_MISSING"),
        ({"categorie_declaree": "voirie"}, "DESCRIPTION_MISSING"),
        ({"description": "   "}, "DESCRIPTION_EMPTY"),
        ({"description": 42}, "DESCRIPTION_NOT_TEXT"),
    ],
)
async def test_no_description_is_invalid_argument_naming_the_field_I6(
    advisor: advisor_pb2_grpc.AdvisorStub, case: dict[str, Any], reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await advisor.Suggest(_request(case))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input.description" in (caught.value.details() or "")
    info, localized, bad_request = _details(caught.value)
    assert info.reason == reason
    assert localized.locale == "fr"
    assert "signalement" in localized.message or "texte" in localized.message
    assert [v.field for v in bad_request.field_violations] == ["input.description"]


async def test_another_model_version_is_failed_precondition_naming_the_served_one(
    advisor: advisor_pb2_grpc.AdvisorStub, model: DemoModel
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await advisor.Suggest(_request({"description": "tag sur le mur"}, "0.9.0"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert model.version in (caught.value.details() or "")
    info, localized = _details(caught.value)
    assert info.reason == "MODEL_VERSION_NOT_SERVED"
    assert dict(info.metadata) == {"requested": "0.9.0", "served": model.version}
    assert model.version in localized.message


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1", "127.0.0.1:http"])
async def test_a_bad_listen_address_is_refused_naming_the_fix(
    listen: str, model: DemoModel
) -> None:
    with pytest.raises(AdvisorStartError, match="HOST:PORT with a port from 0 to 65535"):
        await start_demo_advisor(listen, model=model)


def test_the_standalone_process_serves_and_stops_on_sigterm(model: DemoModel) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "aval.service.ai.advisor_demo", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
    )
    try:
        assert process.stdout is not None
        address = ""
        for line in process.stdout:
            match = re.fullmatch(r"listening on (127\.0\.0\.1:\d+)\n", line)
            if match:
                address = match.group(1)
                break
        assert address, "the process never said where it listens"
        with grpc.insecure_channel(address) as channel:
            response = advisor_pb2_grpc.AdvisorStub(channel).Suggest(
                _request({"description": "herbe haute dans le square"}), timeout=30
            )
        assert json_format.MessageToDict(response.suggestion) == {"service": "espaces_verts"}
        assert response.model_version == model.version
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_evaluate_prints_the_held_out_accuracy_and_the_confusion_matrix(
    model: DemoModel,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aval.service.ai.advisor_demo", "--evaluate"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert f"model {model.version}" in result.stdout
    assert f"held-out accuracy: {model.evaluation.accuracy:.4f} " in result.stdout
    assert "confusion (rows: true service, columns: suggested)" in result.stdout
    for service in ("voirie", "proprete", "eclairage", "espaces_verts"):
        assert re.search(rf"^{service}\s+\d+\s+\d+\s+\d+\s+\d+$", result.stdout, re.M)
