"""The review story over HTTP/JSON, as a PHP application and a supervisor's tool without gRPC
would live it, and refusals that are exactly the gRPC server's (the door is its client)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aval.v1 import gateway_pb2, gateway_pb2_grpc
from tests.support import ServerProcess, token_of, unpacked_details

from .conftest import Http

pytestmark = pytest.mark.e2e

GATEWAY = "/aval.v1.Gateway"
REVIEW = "/aval.v1.Review"


def proposal(**changes: Any) -> dict[str, Any]:
    """A Propose request in proto3 JSON (lowerCamelCase names, as Connect clients send)."""
    body: dict[str, Any] = {
        "decisionType": "voirie.signalement",
        "subjectRef": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"description": "lampadaire éteint rue des Lilas", "numero": 12},
        "idempotencyKey": str(uuid.uuid4()),
        "attestedSuggestion": {
            "output": {"service": "eclairage"},
            "confidence": 0.9,
            "explanation": "mot-clé lampadaire",
            "model": {"name": "tri-mots-cles", "version": "1.0"},
        },
    }
    body.update(changes)
    return body


def grpc_reason(address: str, principal: str | None, request: Any) -> tuple[grpc.StatusCode, str]:
    """The code and ErrorInfo reason the gRPC server answers GetDecision with."""
    metadata = (("authorization", f"Bearer {token_of(principal)}"),) if principal else ()
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetDecision(request, metadata=metadata, timeout=10)
    status = rpc_status.from_call(caught.value)
    assert status is not None
    infos = [d for d in unpacked_details(status) if isinstance(d, error_details_pb2.ErrorInfo)]
    return caught.value.code(), infos[0].reason


def test_propose_review_and_read_the_outcome_over_http(door: Http) -> None:
    proposed = door.call(f"{GATEWAY}/Propose", proposal(), "app-a")
    assert proposed.status == 200, proposed.body
    assert proposed.headers["content-type"] == "application/json"
    decision = proposed.json["decision"]
    decision_id = decision["id"]
    assert decision["state"] == "DECISION_STATE_PENDING_REVIEW"
    assert decision["tenant"] == "ville-a"
    assert decision["input"]["numero"] == 12
    assert isinstance(decision["version"], str)  # int64: a string in proto3 JSON
    assert proposed.json["replayed"] is False  # fields at their default are written too

    read = door.call(f"{GATEWAY}/GetDecision", {"decisionId": decision_id}, "app-a")
    assert read.status == 200 and read.json["decision"]["id"] == decision_id
    assert "outcome" not in read.json["decision"]

    queue = door.call(f"{REVIEW}/ListQueue", {}, "sup-a1")
    assert queue.status == 200, queue.body
    assert decision_id in [d["id"] for d in queue.json["decisions"]]
    # snake_case names are accepted too (the proto3 JSON mapping's parsers take both).
    claimed = door.call(f"{REVIEW}/Claim", {"decision_id": decision_id}, "sup-a1")
    assert claimed.status == 200, claimed.body
    decided = door.call(
        f"{REVIEW}/Decide",
        {"decisionId": decision_id, "verdict": "VERDICT_APPROVE", "language": "en"},
        "sup-a1",
    )
    assert decided.status == 200, decided.body
    assert decided.json["decision"]["state"] == "DECISION_STATE_APPROVED"

    final = door.call(f"{GATEWAY}/GetDecision", {"decisionId": decision_id}, "app-a")
    assert final.json["decision"]["state"] == "DECISION_STATE_APPROVED"
    assert final.json["decision"]["outcome"] == {"service": "eclairage"}
    assert final.json["decision"]["notice"]

    # The server stream of a final decision: the decision once, then a clean end.
    messages, end = door.stream(f"{GATEWAY}/WatchDecision", {"decisionId": decision_id}, "app-a")
    assert [m["decision"]["state"] for m in messages] == ["DECISION_STATE_APPROVED"]
    assert end == {}


def test_a_retry_over_http_is_answered_with_the_first_decision(door: Http) -> None:
    body = proposal()
    first = door.call(f"{GATEWAY}/Propose", body, "app-a")
    again = door.call(f"{GATEWAY}/Propose", body, "app-a")
    assert again.status == 200 and again.json["replayed"] is True
    assert again.json["decision"]["id"] == first.json["decision"]["id"]


def test_refusals_of_the_gateway_keep_their_code_and_reason(
    door: Http, door_server: tuple[ServerProcess, str]
) -> None:
    address = door_server[0].address
    proposed = door.call(f"{GATEWAY}/Propose", proposal(), "app-a").json["decision"]
    request = gateway_pb2.GetDecisionRequest(decision_id=proposed["id"])

    no_token = door.call(f"{GATEWAY}/GetDecision", {"decisionId": proposed["id"]}, None)
    assert no_token.status == 401 and no_token.json["code"] == "unauthenticated"
    assert grpc_reason(address, None, request) == (
        grpc.StatusCode.UNAUTHENTICATED,
        no_token.reason(),
    )

    bad_token = door.request(
        "POST",
        f"{GATEWAY}/GetDecision",
        b"{}",
        {"Content-Type": "application/json", "Authorization": "Bearer not-a-token"},
    )
    assert bad_token.status == 401 and bad_token.reason() != no_token.reason()

    # ville-b's application asks for ville-a's decision: refused, as over gRPC.
    other = door.call(
        f"{GATEWAY}/GetDecision", {"tenant": "ville-a", "decisionId": proposed["id"]}, "app-b"
    )
    assert other.status == 403 and other.json["code"] == "permission_denied"
    request.tenant = "ville-a"
    assert grpc_reason(address, "app-b", request) == (
        grpc.StatusCode.PERMISSION_DENIED,
        other.reason(),
    )

    # A supervisor may not propose: the gateway's authorization, not the door's.
    supervisor = door.call(f"{GATEWAY}/Propose", proposal(), "sup-a1")
    assert supervisor.status == 403, supervisor.body

    # Refusals are worded in French unless the caller asks for English (Accept-Language).
    missing = door.call(
        f"{GATEWAY}/GetDecision",
        {"decisionId": str(uuid.uuid4())},
        "app-a",
        **{"Accept-Language": "en"},
    )
    assert missing.status == 404 and missing.json["code"] == "not_found"
    localized = [d for d in missing.json["details"] if d["type"] == "google.rpc.LocalizedMessage"]
    assert localized[0]["debug"]["locale"] == "en"
    assert missing.reason() == "DECISION_NOT_FOUND"


def test_a_stream_refusal_ends_the_stream_with_the_error(door: Http) -> None:
    messages, end = door.stream(
        f"{GATEWAY}/WatchDecision", {"decisionId": str(uuid.uuid4())}, "app-a"
    )
    assert messages == []
    assert end["error"]["code"] == "not_found"
    reasons = [d["debug"]["reason"] for d in end["error"]["details"] if "reason" in d["debug"]]
    assert reasons == ["DECISION_NOT_FOUND"]


def test_an_inspector_exports_and_verifies_the_trail_over_http(door: Http) -> None:
    """The two other server streams: ExportEvents (bytes in base64, int64 as strings) and
    VerifyTrail (progress, then the report)."""
    decision_id = door.call(f"{GATEWAY}/Propose", proposal(), "app-a").json["decision"]["id"]
    chunks, end = door.stream(
        "/aval.v1.Audit/ExportEvents", {"query": {"decisionId": decision_id}}, "insp-a"
    )
    assert end == {}, end
    lines = b"".join(base64.b64decode(c["chunk"]) for c in chunks).decode().splitlines()
    assert lines and all(json.loads(line)["decision_id"] == decision_id for line in lines)
    assert chunks[-1]["events"] == str(len(lines))

    updates, end = door.stream("/aval.v1.Audit/VerifyTrail", {}, "insp-a")
    assert end == {}, end
    assert "report" in updates[-1] and updates[-1]["report"]["ok"] is True

    # An application may not export: the stream ends with the gateway's refusal.
    refused, end = door.stream("/aval.v1.Audit/ExportEvents", {}, "app-a")
    assert refused == [] and end["error"]["code"] == "permission_denied"


def test_a_stale_seen_version_is_refused_over_http(door: Http) -> None:
    proposed = door.call(f"{GATEWAY}/Propose", proposal(), "app-a")
    decision = proposed.json["decision"]
    seen = decision["version"]  # int64: a string in proto3 JSON, sent back as it came
    claimed = door.call(
        f"{REVIEW}/Claim", {"decisionId": decision["id"], "seenVersion": seen}, "sup-a1"
    )
    assert claimed.status == 200, claimed.body
    stale = door.call(
        f"{REVIEW}/Decide",
        {"decisionId": decision["id"], "verdict": "VERDICT_APPROVE", "seenVersion": seen},
        "sup-a2",
    )
    assert stale.status == 400 and stale.json["code"] == "failed_precondition", stale.body
    assert stale.reason() == "CASE_CHANGED"
    info = stale.json["details"][0]["debug"]["metadata"]
    assert (info["seen_version"], info["current_version"]) == (seen, str(int(seen) + 1))
    assert "show the case again" in stale.json["message"]
    own = door.call(
        f"{REVIEW}/Decide",
        {"decisionId": decision["id"], "verdict": "VERDICT_APPROVE", "seenVersion": seen},
        "sup-a1",
    )
    assert own.status == 200, own.body
    assert own.json["decision"]["state"] == "DECISION_STATE_APPROVED"
