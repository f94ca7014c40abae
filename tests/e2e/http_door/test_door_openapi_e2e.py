"""The OpenAPI description: served by the door, the committed file, valid OpenAPI 3.1, every
RPC of the served services; and a `curl` session, the tool operators will try first."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from openapi_spec_validator import validate

from aval.service.edge.door.procedures import SERVED_SERVICES
from aval.service.runtime.server import SERVICE_NAMES
from tests.support import token_of

from .conftest import Http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "openapi.json"


def every_rpc() -> set[str]:
    pool = descriptor_pool.Default()
    return {
        f"/{name}/{method.name}"
        for name in SERVICE_NAMES
        for method in pool.FindServiceByName(name).methods
    }


def test_the_door_serves_what_the_gateway_serves() -> None:
    assert set(SERVED_SERVICES) == set(SERVICE_NAMES)


def test_the_description_is_served_valid_and_complete(door: Http) -> None:
    answer = door.request("GET", "/openapi.json")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    served = answer.json
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8"))
    validate(served)  # raises on any OpenAPI 3.1 error
    assert served["openapi"].startswith("3.1")
    assert set(served["paths"]) == every_rpc()
    propose = served["paths"]["/aval.v1.Gateway/Propose"]["post"]
    assert "PENDING_REVIEW" in propose["description"]  # the proto's comment
    schemas = served["components"]["schemas"]
    decision = schemas["aval.v1.Decision"]["properties"]
    assert decision["version"]["type"] == "string"  # int64 as a string
    assert decision["createdAt"]["format"] == "date-time"
    assert decision["input"]["type"] == "object"
    assert schemas["aval.v1.DecisionState"]["enum"][0] == "DECISION_STATE_UNSPECIFIED"
    watch = served["paths"]["/aval.v1.Gateway/WatchDecision"]["post"]
    assert "application/connect+json" in watch["requestBody"]["content"]
    assert served["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_health_needs_no_token(door: Http) -> None:
    answer = door.request("GET", "/healthz")
    assert answer.status == 200 and answer.json == {"status": "SERVING"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_curl_proposes_and_reads_a_decision(door: Http) -> None:
    def curl(path: str, body: str, principal: str) -> tuple[int, dict[str, object]]:
        done = subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                "--write-out",
                "\n%{http_code}",
                "-H",
                "Content-Type: application/json",
                "-H",
                f"Authorization: Bearer {token_of(principal)}",
                "--data-binary",
                body,
                f"http://{door.address}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        text, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(text)

    body = json.dumps(
        {
            "decisionType": "voirie.signalement",
            "subjectRef": "usager:curl",
            "input": {"description": "nid-de-poule"},
            "idempotencyKey": str(uuid.uuid4()),
        }
    )
    code, proposed = curl("/aval.v1.Gateway/Propose", body, "app-a")
    assert code == 200, proposed
    decision_id = proposed["decision"]["id"]  # type: ignore[index]
    code, read = curl(
        "/aval.v1.Gateway/GetDecision", json.dumps({"decisionId": decision_id}), "app-a"
    )
    assert code == 200 and read["decision"]["id"] == decision_id  # type: ignore[index]
    code, refused = curl(
        "/aval.v1.Gateway/GetDecision", json.dumps({"decisionId": decision_id}), "app-b"
    )
    assert code in (403, 404) and refused["code"] in ("permission_denied", "not_found")
