"""What the worst HTTP caller could send the door: every refusal is a Connect error naming the
problem, with the gateway's reason and no trace of the server's insides, and writes nothing."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid

import pytest

from aval.service.edge.admission import receive_limit
from aval.service.runtime.door import HEADER_SECONDS

from .conftest import Http

pytestmark = pytest.mark.e2e

GET_DECISION = "/aval.v1.Gateway/GetDecision"
PROPOSE = "/aval.v1.Gateway/Propose"
LIMIT = receive_limit(64 * 1024)  # the default AVAL_MAX_PAYLOAD_BYTES


def assert_clean(body: bytes) -> None:
    """No stack trace nor Python insides in an answer."""
    text = body.decode("utf-8", "replace")
    for leak in ("Traceback", 'File "', "/aval/", "Exception", "grpc._"):
        assert leak not in text, text


@pytest.mark.parametrize(
    ("body", "violation", "named"),
    [
        (b'{"decisionId": ', "NOT_JSON", "line 1 column 16"),
        (b"\xff\xfe{}", "NOT_JSON", "utf-8"),
        (b"[1, 2]", "NOT_A_JSON_OBJECT", "aval.v1.GetDecisionRequest"),
        (b'"text"', "NOT_A_JSON_OBJECT", "JSON object"),
        (b'{"decisionId": 12}', "JSON_MISMATCH", "decisionId"),
        (b'{"decisionId": "x", "extra": 1}', "JSON_MISMATCH", "extra"),
        (b'{"language": ["fr"]}', "JSON_MISMATCH", "language"),
        (b'{"decisionId": NaN}', "NOT_JSON", "NaN"),
        (b'{"decisionId": 1e400}', "NOT_JSON", "range of a double"),
        (b'{"decisionId": ' + b"9" * 5000 + b"}", "NOT_JSON", "digits"),
        (b"[" * 100_000, "NOT_JSON", "nested"),
    ],
)
def test_bodies_that_are_not_the_request_are_refused_naming_the_problem(
    door: Http, body: bytes, violation: str, named: str
) -> None:
    answer = door.call(GET_DECISION, body, "app-a", **{"Accept-Language": "en"})
    assert answer.status == 400, answer.body
    assert answer.json["code"] == "invalid_argument"
    assert answer.violations() == [violation]
    assert named.lower() in answer.json["message"].lower(), answer.json["message"]
    assert_clean(answer.body)


@pytest.mark.parametrize(
    "changes",
    [
        {"input": {"a": 10**400}},
        {"attestedSuggestion": {"output": {"a": 1}, "confidence": 10**400}},
        {"input": 5},
        {"input": {"a": 1}, "subjectRef": {"nested": True}},
    ],
)
def test_values_the_json_mapping_cannot_hold_are_refused(
    door: Http, changes: dict[str, object]
) -> None:
    body = {
        "decisionType": "voirie.signalement",
        "subjectRef": "usager:1",
        "input": {"a": 1},
        "idempotencyKey": str(uuid.uuid4()),
        **changes,
    }
    answer = door.call(PROPOSE, json.dumps(body).encode(), "app-a")
    assert answer.status == 400, answer.body
    assert answer.violations() == ["JSON_MISMATCH"]
    assert_clean(answer.body)


def test_json_nested_beyond_the_gateways_limit_is_refused(door: Http) -> None:
    deep: object = "feuille"
    for _ in range(200):
        deep = {"n": deep}
    body = {
        "decisionType": "voirie.signalement",
        "subjectRef": "usager:1",
        "input": deep,
        "idempotencyKey": str(uuid.uuid4()),
    }
    answer = door.call(PROPOSE, body, "app-a")
    assert answer.status == 400, answer.body
    assert answer.json["code"] == "invalid_argument"
    assert_clean(answer.body)


def test_a_body_over_the_receive_limit_is_refused_unread(door: Http) -> None:
    # Declared too large: refused on its Content-Length, before any byte is read.
    declared = door.request(
        "POST",
        GET_DECISION,
        b"{}",
        {
            "Content-Type": "application/json",
            "Authorization": "Bearer test-token-app-a",
            "Content-Length": str(LIMIT + 1),
        },
    )
    assert declared.status == 413 and declared.json["code"] == "resource_exhausted"
    assert declared.reason() == "HTTP_BODY_TOO_LARGE"
    # Sent chunked (no length): refused once the limit is passed.
    huge = json.dumps({"decisionId": "x" * (LIMIT + 10)}).encode()
    chunks = iter([huge[i : i + 65536] for i in range(0, len(huge), 65536)])
    answer = door.request(
        "POST",
        GET_DECISION,
        chunks,
        {"Content-Type": "application/json", "Authorization": "Bearer test-token-app-a"},
    )
    assert answer.status == 413 and answer.reason() == "HTTP_BODY_TOO_LARGE"
    # Just under the limit, the body is read and the gateway answers.
    near = json.dumps({"decisionId": "x" * (LIMIT - 100)}).encode()
    assert door.call(GET_DECISION, near, "app-a").status == 400


def test_no_token_is_refused_before_the_body_is_read(door: Http) -> None:
    answer = door.request(
        "POST",
        GET_DECISION,
        b"{",
        {"Content-Type": "application/json", "Content-Length": str(LIMIT * 10)},
    )
    assert answer.status == 401 and answer.json["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/proto"]
)
def test_a_wrong_content_type_is_415(door: Http, content_type: str) -> None:
    answer = door.request(
        "POST",
        GET_DECISION,
        b"{}",
        {"Content-Type": content_type, "Authorization": "Bearer test-token-app-a"},
    )
    assert answer.status == 415, answer.body
    assert answer.violations() == ["CONTENT_TYPE"]


def test_a_unary_call_in_the_streaming_form_and_back_are_415(door: Http) -> None:
    payload = b'{"decisionId": "x"}'
    enveloped = b"\x00" + struct.pack(">I", len(payload)) + payload
    headers = {"Authorization": "Bearer test-token-app-a"}
    unary = door.request(
        "POST", GET_DECISION, enveloped, {**headers, "Content-Type": "application/connect+json"}
    )
    assert unary.status == 415
    stream = door.request(
        "POST",
        "/aval.v1.Gateway/WatchDecision",
        payload,
        {**headers, "Content-Type": "application/json"},
    )
    assert stream.status == 415


@pytest.mark.parametrize(
    "body",
    [b"", b'{"decisionId": "x"}', b"\x01\x00\x00\x00\x02{}", b"\x00\x00\x00\x00\x09{}"],
)
def test_a_stream_request_that_is_not_one_envelope_is_refused(door: Http, body: bytes) -> None:
    answer = door.request(
        "POST",
        "/aval.v1.Gateway/WatchDecision",
        body,
        {"Content-Type": "application/connect+json", "Authorization": "Bearer test-token-app-a"},
    )
    assert answer.status == 400, answer.body
    assert answer.violations() == ["NOT_AN_ENVELOPE"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_only_post_calls_a_procedure(door: Http, method: str) -> None:
    answer = door.request(method, GET_DECISION, None, {"Authorization": "Bearer test-token-app-a"})
    assert answer.status == 405 and answer.headers["allow"] == "POST"
    assert answer.json["code"] == "unimplemented" and answer.reason() == "HTTP_METHOD"


@pytest.mark.parametrize(
    "path",
    [
        "/aval.v1.Gateway/Nope",
        "/aval.v1.Advisor/Suggest",  # called by Aval, not served by it
        "/grpc.health.v1.Health/Check",
        "/aval.v1.Gateway/Propose/extra",
        "/",
        "/../etc/passwd",
    ],
)
def test_an_unknown_procedure_is_404_in_connect_form(door: Http, path: str) -> None:
    answer = door.call(path, {}, "app-a")
    assert answer.status == 404, answer.body
    assert answer.json["code"] == "unimplemented"
    assert answer.reason() == "HTTP_NO_PROCEDURE"


def test_a_timeout_header_must_be_milliseconds(door: Http) -> None:
    answer = door.call(GET_DECISION, {}, "app-a", **{"Connect-Timeout-Ms": "soon"})
    assert answer.status == 400 and answer.violations() == ["BAD_TIMEOUT"]
    quick = door.call(
        GET_DECISION, {"decisionId": str(uuid.uuid4())}, "app-a", **{"Connect-Timeout-Ms": "5000"}
    )
    assert quick.status == 404


def test_a_bad_proposal_writes_nothing(door: Http) -> None:
    key = str(uuid.uuid4())
    bad = door.call(
        PROPOSE,
        {"decisionType": "voirie.signalement", "idempotencyKey": key, "input": {"a": 1}, "x": 1},
        "app-a",
    )
    assert bad.status == 400
    good = door.call(
        PROPOSE,
        {
            "decisionType": "voirie.signalement",
            "subjectRef": "usager:1",
            "idempotencyKey": key,
            "input": {"a": 1},
        },
        "app-a",
    )
    assert good.status == 200, good.body
    assert good.json["replayed"] is False  # the refused call recorded nothing under its key


def _slow_client(address: str, first: bytes, result: dict[str, object]) -> None:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=HEADER_SECONDS * 3) as sock:
        sock.sendall(first)
        started = time.monotonic()
        data = b""
        try:
            while chunk := sock.recv(65536):
                result.setdefault("seconds", time.monotonic() - started)
                data += chunk
                if b"\r\n\r\n" in data and data.endswith(b"}"):
                    break  # the whole JSON answer
        except OSError:
            pass
        result.setdefault("seconds", time.monotonic() - started)
        result["data"] = data


def test_slow_clients_are_cut_off(door: Http) -> None:
    """A client that drips its headers, and one that never sends its announced body, are
    cut off within seconds (slowloris): neither holds a connection for ever."""
    headers_only = {}
    body_missing = {}
    drip = threading.Thread(
        target=_slow_client,
        args=(
            door.address,
            b"POST /aval.v1.Gateway/GetDecision HTTP/1.1\r\nHost: x\r\n",
            headers_only,
        ),
    )
    stall = threading.Thread(
        target=_slow_client,
        args=(
            door.address,
            b"POST /aval.v1.Gateway/GetDecision HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer test-token-app-a\r\n"
            b"Content-Length: 100\r\n\r\n{",
            body_missing,
        ),
    )
    drip.start()
    stall.start()
    drip.join(HEADER_SECONDS * 4)
    stall.join(HEADER_SECONDS * 4)
    assert headers_only["data"] == b""  # closed without an answer
    assert float(headers_only["seconds"]) < HEADER_SECONDS + 5  # type: ignore[arg-type]
    answer = body_missing["data"]
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 409"), answer
    assert b"REQUEST_STALLED" in answer
    assert float(body_missing["seconds"]) < HEADER_SECONDS + 5  # type: ignore[arg-type]
