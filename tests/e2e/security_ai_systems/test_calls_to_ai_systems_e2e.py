"""What the server sends to AI systems, where, and what reviewers see of their errors."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.v1 import common_pb2
from tests.support import ServerProcess

from ..helpers import all_events, run_cli
from .conftest import ADVISOR_LEAKS, HTTP_LEAKS, LEAK, SECRET_A, SECRET_B, Recorder, type_of

pytestmark = pytest.mark.e2e


def _legacy_row(url: str, name: str, endpoint: str, api_key_env: str) -> None:
    """An AI system of ville-b written as earlier versions allowed: any variable, any endpoint."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO aval.ai_systems (tenant_id, name, kind, endpoint, model, api_key_env,"
            " enabled, timeout_ms, max_attempts, created_at, updated_at)"
            " VALUES ('ville-b', %s, 'OPENAI_COMPATIBLE', %s, 'm', %s, true, 3000, 1, %s, %s)"
            " ON CONFLICT (tenant_id, name) DO UPDATE"
            " SET endpoint = EXCLUDED.endpoint, api_key_env = EXCLUDED.api_key_env",
            (name, endpoint, api_key_env, datetime.now(UTC), datetime.now(UTC)),
        )


def _propose(client: Client, decision_type: str) -> common_pb2.Decision:
    reply = client.propose(
        decision_type=decision_type,
        subject_ref=f"usager:{uuid.uuid4().hex[:8]}",
        input={"description": "un lampadaire éteint"},
        idempotency_key=str(uuid.uuid4()),
    )
    return reply.decision  # type: ignore[no-any-return]


def _views(as_: Callable[..., Client], tenant: str, decision_id: str) -> str:
    """Everything the application, a reviewer and an inspector can read about a decision."""
    app, sup, insp = {
        "ville-a": ("app-a", "sup-a1", "insp-a"),
        "ville-b": ("app-b", "sup-b", "insp-b"),
    }[tenant]
    texts = [
        str(as_(app).get_decision(decision_id)),
        str(as_(app, "en").get_decision(decision_id, language="en")),
        str(as_(sup).get_decision(decision_id)),
        str([d for d in as_(sup).list_queue(page_size=500).decisions if d.id == decision_id]),
    ]
    for event in all_events(as_(insp), decision_id=decision_id):
        texts.append(json.dumps(json_format.MessageToDict(event.data), ensure_ascii=False))
    for audience in ("inspector", "citizen"):
        texts.append(as_(insp).explain_decision(decision_id, audience=audience).text)
    return "\n".join(texts)


@pytest.mark.parametrize(
    "variable",
    ["AVAL_TEST_SECRET_VILLE_A", "AVAL_DATABASE_URL", "albert-a", "PATH", "AVAL_SIGNING_KEY_FILE"],
)
def test_a_system_registered_earlier_with_a_raw_variable_never_reads_it_I5(
    as_: Callable[..., Client], http: Recorder, guarded_db: str, variable: str
) -> None:
    _legacy_row(guarded_db, "ia-b", http.url("b-legacy"), variable)
    before = len(http.paths("b-legacy"))
    decision = _propose(as_("app-b"), "b.llm")
    assert decision.state == common_pb2.DECISION_STATE_PENDING_REVIEW
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.advice_reason == "AI_SECRET_NOT_DECLARED"
    assert len(http.paths("b-legacy")) == before  # not called
    seen = _views(as_, "ville-b", decision.id)
    for never in (SECRET_A, SECRET_B, guarded_db, os.environ.get("PATH", "/usr/bin")):
        assert never not in seen


def test_a_system_without_secret_is_called_without_a_key(
    as_: Callable[..., Client], http: Recorder, guarded_db: str
) -> None:
    _legacy_row(guarded_db, "ia-b", http.url("b-legacy"), "")
    before = len(http.paths("b-legacy"))
    decision = _propose(as_("app-b"), "b.llm")
    [headers] = http.paths("b-legacy")[before:]
    assert "authorization" not in headers
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.advice_reason == "AI_ANSWER"


def test_a_system_registered_earlier_with_a_forbidden_endpoint_is_never_called_I5(
    as_: Callable[..., Client], http: Recorder, internal: Recorder, guarded_db: str
) -> None:
    for endpoint in (internal.url("admin"), f"http://127.0.0.2:{http.port}/b-legacy/v1"):
        _legacy_row(guarded_db, "ia-b", endpoint, "")
        decision = _propose(as_("app-b"), "b.llm")
        assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
        assert decision.advice_reason == "AI_ENDPOINT_NOT_ALLOWED", endpoint
    assert internal.seen == []


def test_the_key_goes_only_to_the_registered_endpoint_and_redirects_are_not_followed(
    as_: Callable[..., Client], http: Recorder
) -> None:
    as_("admin-a").register_ai_system(
        "ia-fuite-redirect",
        kind="openai",
        endpoint=http.url("redirect"),
        model="m",
        api_key_env="albert-a",
        max_attempts=1,
        reason="essai",
    )
    decision = _propose(as_("app-a"), type_of("redirect"))
    [headers] = http.paths("redirect")
    assert headers["authorization"] == f"Bearer {SECRET_A}"
    assert http.paths("stolen") == []
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert "HTTP 302" in as_("app-a", "en").get_decision(decision.id, language="en").advice_detail


# Item 5: what a failing backend says never travels.


@pytest.mark.parametrize("behaviour", HTTP_LEAKS[:-1] + ADVISOR_LEAKS)
def test_an_ai_error_shows_a_status_and_a_fixed_reason_never_the_remote_text(
    as_: Callable[..., Client], http: Recorder, advisor: int, behaviour: str, guarded: ServerProcess
) -> None:
    name = f"ia-fuite-{behaviour}"
    if behaviour.startswith("advisor"):
        as_("admin-a").register_ai_system(
            name, kind="advisor", endpoint=f"127.0.0.1:{advisor}", reason="essai"
        )
    else:
        as_("admin-a").register_ai_system(
            name,
            kind="openai",
            endpoint=http.url(behaviour),
            model="m",
            api_key_env="albert-a",
            reason="essai",
        )
    decision = _propose(as_("app-a"), type_of(behaviour))
    assert decision.advice_status in (
        common_pb2.ADVICE_STATUS_UNAVAILABLE,
        common_pb2.ADVICE_STATUS_INVALID_OUTPUT,
    )
    detail = as_("app-a", "en").get_decision(decision.id, language="en").advice_detail
    if behaviour.startswith("leak-") and behaviour != "leak-200":
        status = behaviour.removeprefix("leak-")
        assert f"HTTP {status}" in detail, detail
    seen = _views(as_, "ville-a", decision.id)
    shown = run_cli(guarded.address, "sup-a1", "decision", "show", decision.id)
    assert shown.returncode == 0, shown.stderr
    for never in (LEAK, SECRET_A, "Console d'administration", "Traceback"):
        assert never not in seen, never
        assert never not in shown.stdout + shown.stderr, never
