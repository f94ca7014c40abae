"""What the AI backends ask, accept, retry and keep secret, against real servers on loopback."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from aval.service.ai.backends import Backends, Backoff, BreakerState
from aval.verifier.chain import canonical_json
from tests.openai_server import OpenAIServer

from .conftest import CASE, EGRESS, ROOT, SCHEMA, FakeClock, _config, _free_port, _request


async def test_a_good_answer_is_suggested_with_confidence_and_tokens(
    server: OpenAIServer, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(server.url), _request())
    assert (outcome.status, outcome.detail, outcome.attempts) == ("SUGGESTED", "", 1)
    advice = outcome.advice
    assert advice is not None
    assert advice.output == {"catégorie": "éclairage", "urgence": 1}  # null remarque dropped
    assert advice.confidence == 0.87
    assert "éclairage" in advice.explanation
    assert [f.name for f in advice.factors] == ["éclairage"]
    assert advice.model_version == "good"
    assert outcome.input_tokens is not None and outcome.input_tokens > 0
    assert outcome.output_tokens is not None and outcome.output_tokens > 0
    assert outcome.started_at.tzinfo is not None and outcome.latency_ms >= 0


async def test_the_request_asks_for_structured_output_of_the_decision_type(
    server: OpenAIServer, backends: Backends
) -> None:
    await backends.suggest(_config(server.url), _request())
    [sent] = server.chat_requests()
    body = sent.body
    assert (body["model"], body["temperature"]) == ("good", 0)
    system, user = body["messages"]
    assert system["role"] == "system" and "Orienter les signalements" in system["content"]
    assert user == {"role": "user", "content": canonical_json(CASE).decode()}
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    envelope = response_format["json_schema"]["schema"]
    assert envelope["required"] == ["suggestion", "confidence", "rationale", "factors"]
    suggestion = envelope["properties"]["suggestion"]
    assert suggestion["properties"]["catégorie"] == SCHEMA["properties"]["catégorie"]
    # Strict structured output wants every property required: optional ones may be null.
    assert suggestion["required"] == ["catégorie", "urgence", "remarque"]
    assert {"type": "null"} in suggestion["properties"]["remarque"]["anyOf"]


async def test_a_pinned_version_is_the_model_asked_and_the_one_recorded(
    server: OpenAIServer, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(server.url), _request("good+2025-06"))
    assert outcome.advice is not None and outcome.advice.model_version == "good+2025-06"
    assert server.chat_requests()[0].body["model"] == "good+2025-06"


async def test_a_backend_answering_with_another_model_is_invalid_output(
    server: OpenAIServer, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(server.url), _request("impostor"))
    assert (outcome.status, outcome.advice, outcome.attempts) == ("INVALID_OUTPUT", None, 1)
    assert "'impostor-1'" in outcome.detail and "'impostor'" in outcome.detail


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("garbage", "the model's answer is not JSON"),
        ("nested", "the model's answer is not JSON"),
        ("invalid", "catégorie: Input should be 'voirie', 'propreté' or 'éclairage'"),
        ("wrong-fields", "not in the expected form"),
    ],
)
async def test_unusable_answers_are_invalid_output_and_not_retried(
    server: OpenAIServer, backends: Backends, model: str, expected: str
) -> None:
    outcome = await backends.suggest(_config(server.url, model, max_attempts=3), _request())
    assert (outcome.status, outcome.advice, outcome.attempts) == ("INVALID_OUTPUT", None, 1)
    assert expected in outcome.detail
    assert len(outcome.detail) <= 300
    assert outcome.input_tokens is not None  # an invalid answer still cost tokens
    assert len(server.chat_requests()) == 1


async def test_a_response_nested_too_deeply_is_invalid_output_not_a_crash(
    server: OpenAIServer, backends: Backends
) -> None:
    """A hostile AI system's body nested deeper than the parser goes is "not JSON"."""
    outcome = await backends.suggest(_config(server.url, "nested-body"), _request())
    assert (outcome.status, outcome.advice, outcome.attempts) == ("INVALID_OUTPUT", None, 1)
    assert outcome.detail == "the AI system's response is not JSON"


async def test_two_server_errors_then_success_within_three_attempts(
    server: OpenAIServer, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(server.url, "flaky-2", max_attempts=3), _request())
    assert (outcome.status, outcome.attempts) == ("SUGGESTED", 3)
    assert len(server.chat_requests()) == 3


async def test_server_errors_beyond_max_attempts_are_unavailable(
    server: OpenAIServer, backends: Backends
) -> None:
    outcome = await backends.suggest(_config(server.url, "flaky-5", max_attempts=2), _request())
    assert (outcome.status, outcome.advice, outcome.attempts) == ("UNAVAILABLE", None, 2)
    # The status only: the body is the remote's text (issue 10, item 5).
    assert outcome.detail.startswith("HTTP 500 Internal Server Error from the AI system")
    assert "scripted failure" not in outcome.detail
    assert outcome.detail.endswith("(after 2 attempts)")


async def test_too_many_requests_is_retried_but_other_client_errors_are_not(
    server: OpenAIServer, backends: Backends
) -> None:
    limited = await backends.suggest(_config(server.url, "fail-429-1", max_attempts=2), _request())
    assert (limited.status, limited.attempts) == ("SUGGESTED", 2)
    refused = await backends.suggest(_config(server.url, "fail-404", max_attempts=3), _request())
    assert (refused.status, refused.attempts) == ("UNAVAILABLE", 1)
    assert refused.detail.startswith("HTTP 404")


async def test_a_slow_backend_is_unavailable_after_the_timeout(
    server: OpenAIServer, backends: Backends
) -> None:
    config = _config(server.url, "slow-5", timeout=0.2, max_attempts=2)
    outcome = await backends.suggest(config, _request())
    assert (outcome.status, outcome.advice, outcome.attempts) == ("UNAVAILABLE", None, 2)
    assert outcome.detail.startswith("no answer within 0.2 s")


async def test_a_refused_connection_is_unavailable(backends: Backends) -> None:
    config = _config(f"http://127.0.0.1:{_free_port()}/v1", max_attempts=2)
    outcome = await backends.suggest(config, _request())
    assert (outcome.status, outcome.advice, outcome.attempts) == ("UNAVAILABLE", None, 2)
    assert outcome.detail.startswith("cannot reach the AI system")


async def test_the_breaker_opens_after_five_failed_calls_and_a_probe_closes_it(
    server: OpenAIServer,
) -> None:
    clock = FakeClock()
    backends = Backends(egress=EGRESS, clock=clock, cooldown=30, backoff=Backoff(base=0, cap=0))
    config, request = _config(server.url, "flaky-5"), _request()
    try:
        for _ in range(5):
            outcome = await backends.suggest(config, request)
            assert outcome.status == "UNAVAILABLE" and outcome.detail.startswith("HTTP 500")
        refused = await backends.suggest(config, request)
        assert (refused.status, refused.attempts) == ("UNAVAILABLE", 0)
        assert refused.detail.startswith("circuit open")
        assert len(server.chat_requests()) == 5  # the open breaker sent nothing
        clock.now += 30
        probe = await backends.suggest(config, request)
        assert (probe.status, probe.attempts) == ("SUGGESTED", 1)
        assert backends.breaker(config, request).state is BreakerState.CLOSED
    finally:
        await backends.aclose()


async def test_invalid_answers_do_not_open_the_breaker(
    server: OpenAIServer, backends: Backends
) -> None:
    config, request = _config(server.url, "garbage"), _request()
    for _ in range(7):
        outcome = await backends.suggest(config, request)
        assert outcome.status == "INVALID_OUTPUT"
    assert backends.breaker(config, request).state is BreakerState.CLOSED


async def test_a_failing_shadow_version_does_not_open_the_pinned_one(
    server: OpenAIServer, backends: Backends
) -> None:
    config = _config(server.url)
    for _ in range(5):
        await backends.suggest(config, _request("fail-503"))
    assert backends.breaker(config, _request("fail-503")).state is BreakerState.OPEN
    outcome = await backends.suggest(config, _request("good+pinned"))
    assert outcome.status == "SUGGESTED"


async def test_the_api_key_is_sent_as_a_bearer_token_only_when_configured(
    server: OpenAIServer, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAL_TEST_AI_KEY", "s3cret-key")
    keyed = _config(server.url, api_key_secret="AVAL_TEST_AI_KEY")
    assert (await backends.suggest(keyed, _request())).status == "SUGGESTED"
    assert (await backends.suggest(_config(server.url), _request())).status == "SUGGESTED"
    with_key, without_key = server.chat_requests()
    assert with_key.headers["authorization"] == "Bearer s3cret-key"
    assert "authorization" not in without_key.headers


async def test_an_unset_api_key_variable_is_unavailable_without_a_call(
    server: OpenAIServer, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AVAL_TEST_MISSING_KEY", raising=False)
    config = _config(server.url, api_key_secret="AVAL_TEST_MISSING_KEY", max_attempts=3)
    outcome = await backends.suggest(config, _request())
    assert (outcome.status, outcome.attempts) == ("UNAVAILABLE", 0)
    assert outcome.refusal == "SECRET_UNSET"
    assert outcome.detail.startswith("not called: the secret holding the API key")
    assert server.chat_requests() == []


async def test_a_server_echoing_the_key_does_not_leak_it_into_the_detail(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAL_TEST_AI_KEY", "s3cret-key")
    async with OpenAIServer(behaviour="fail-401") as server:
        config = _config(server.url, api_key_secret="AVAL_TEST_AI_KEY")
        refused = await backends.suggest(config, _request())
    assert refused.status == "UNAVAILABLE"
    assert refused.detail.startswith("HTTP 401 Unauthorized from the AI system")
    assert "s3cret-key" not in refused.detail


async def test_the_test_server_runs_as_a_process_until_sigterm(backends: Backends) -> None:
    """The way end-to-end tests start it beside the real Aval server."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.openai_server",
        "--listen",
        "127.0.0.1:0",
        "--behaviour",
        "impostor",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        endpoint = f"http://127.0.0.1:{match.group(1)}/v1"
        outcome = await backends.suggest(_config(endpoint), _request("good+v1"))
        assert outcome.status == "INVALID_OUTPUT"  # --behaviour applies to every model
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0
