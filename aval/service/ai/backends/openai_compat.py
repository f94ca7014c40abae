"""OpenAI-compatible chat completions (Ollama, vLLM, llama.cpp's server, Albert) over HTTP.

The model is asked for structured output: a JSON object holding the suggestion (in the
decision type's output schema), a confidence, a rationale for the reviewer, and the factors
that weighed. Servers that enforce `response_format` produce it by construction; for the
others the same schema is in the instructions, and the answer is validated either way.
"""

from __future__ import annotations

import asyncio
import json
import re
from http import HTTPStatus
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aval.audit_store.records import Factor
from aval.service.ai.backends.base import (
    Access,
    Advice,
    AdviceRequest,
    Answer,
    AttemptFailed,
    BackendConfig,
    FailureKind,
    InvalidOutput,
    expected_version,
    valid_suggestion,
)
from aval.verifier.chain import canonical_json, parse_json

# A rationale longer than this is cut, not refused: it is read by a person, not parsed.
_RATIONALE_LIMIT = 4000
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*)\n\s*```\s*$", re.DOTALL)


class _Factor(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    weight: float = Field(allow_inf_nan=False)
    value: str = Field(default="", max_length=200)


class _Wrapper(BaseModel):
    """The answer's envelope; the suggestion inside is checked against the decision type."""

    model_config = ConfigDict(strict=True, extra="forbid")
    suggestion: dict[str, Any]
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    rationale: str
    factors: list[_Factor] = Field(default_factory=list, max_length=50)


def answer_schema(output_schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema asked of the model: the suggestion in its envelope.

    Every property is required, as strict structured output demands; a property the decision
    type leaves optional may be null instead, and a null is read as absent.
    """
    required = set(output_schema.get("required", []))
    suggestion_properties = {
        name: spec if name in required else {"anyOf": [spec, {"type": "null"}]}
        for name, spec in output_schema["properties"].items()
    }
    suggestion = {
        "type": "object",
        "properties": suggestion_properties,
        "required": list(output_schema["properties"]),
        "additionalProperties": False,
    }
    factor = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "weight": {"type": "number"}},
        "required": ["name", "weight"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "suggestion": suggestion,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
            "factors": {"type": "array", "items": factor},
        },
        "required": ["suggestion", "confidence", "rationale", "factors"],
        "additionalProperties": False,
    }


def _system_prompt(request: AdviceRequest, schema: dict[str, Any]) -> str:
    purpose = request.instructions.strip() or f"Type de décision : {request.decision_type}."
    return (
        "Vous aidez les agents d'une collectivité territoriale française. Votre réponse est "
        "une suggestion qu'une personne examinera avant toute décision.\n"
        f"Finalité : {purpose}\n"
        "Le message de l'utilisateur est le dossier, en JSON. Répondez par un seul objet JSON, "
        "sans autre texte, avec : « suggestion » (la décision suggérée), « confidence » (votre "
        "confiance, entre 0 et 1), « rationale » (une explication courte, en français, pour "
        "l'agent) et « factors » (les éléments du dossier qui ont pesé, avec un poids signé). "
        "Schéma JSON de la réponse :\n" + json.dumps(schema, ensure_ascii=False)
    )


def request_body(config: BackendConfig, request: AdviceRequest) -> dict[str, Any]:
    """The chat-completions request for one question."""
    schema = answer_schema(request.output_schema)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.decision_type)[:58] or "decision"
    return {
        "model": request.model_version or config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": _system_prompt(request, schema)},
            {"role": "user", "content": canonical_json(request.input).decode("utf-8")},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": f"aval_{name}", "strict": True, "schema": schema},
        },
    }


class OpenAICompatBackend:
    """One OpenAI-compatible endpoint: one HTTP client (a connection pool) reused by calls.

    The transport given by the caller decides where connections may go (guarded_http.py).
    """

    def __init__(self, endpoint: str, *, transport: httpx.AsyncBaseTransport | None = None):
        base = endpoint if endpoint.endswith("/") else endpoint + "/"
        # Redirects are not followed: the Authorization header must not travel elsewhere; nor
        # are the environment's proxies and .netrc credentials used.
        self._client = httpx.AsyncClient(
            base_url=base,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def attempt(
        self,
        config: BackendConfig,
        request: AdviceRequest,
        trace_headers: dict[str, str],
        access: Access,
    ) -> Answer:
        headers = dict(trace_headers)
        if access.api_key is not None:
            headers["Authorization"] = f"Bearer {access.api_key}"
        body = request_body(config, request)
        try:
            # Both limits: httpx's applies per socket operation, the outer one to the whole
            # attempt, so that a server trickling bytes cannot hold it longer.
            async with asyncio.timeout(config.timeout):
                response = await self._client.post(
                    "chat/completions",
                    json=body,
                    headers=headers,
                    timeout=httpx.Timeout(config.timeout),
                )
        except (TimeoutError, httpx.TimeoutException):
            raise AttemptFailed(
                FailureKind.TRANSIENT, f"no answer within {config.timeout:g} s"
            ) from None
        except httpx.TransportError as error:
            # The error's text may quote what the remote end sent: only its kind is told.
            raise AttemptFailed(FailureKind.TRANSIENT, _transport_failure(error)) from None
        except httpx.RequestError as error:  # e.g. a body in an unknown content encoding
            raise AttemptFailed(
                FailureKind.INVALID_OUTPUT,
                f"the AI system's response cannot be read ({type(error).__name__})",
            ) from None
        return _read(response, request, str(body["model"]))


def _transport_failure(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "cannot reach the AI system (connection refused or failed)"
    if isinstance(error, httpx.NetworkError):
        return "cannot reach the AI system (connection lost)"
    if isinstance(error, httpx.ProtocolError):
        return "cannot reach the AI system (the answer broke the HTTP protocol)"
    return f"cannot reach the AI system ({type(error).__name__})"


def status_text(status: int) -> str:
    """An HTTP status and its standard phrase, never the remote's own words."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _read(response: httpx.Response, request: AdviceRequest, asked: str) -> Answer:
    status = response.status_code
    if status >= 300:
        # The body and the reason phrase are the remote's: an internal page's text must not
        # reach reviewers or the trail (SSRF), so only the status is told.
        kind = FailureKind.TRANSIENT if status >= 500 or status == 429 else FailureKind.REFUSED
        raise AttemptFailed(kind, f"{status_text(status)} from the AI system")
    try:
        data = parse_json(response.content)  # deep nesting too is "not JSON"
    except ValueError:
        raise AttemptFailed(
            FailureKind.INVALID_OUTPUT, "the AI system's response is not JSON"
        ) from None
    input_tokens, output_tokens = _usage(data)

    invalid = InvalidOutput(input_tokens, output_tokens)

    message = _message(data)
    if message is None:
        raise invalid("the response has no choices[0].message")
    answered = data.get("model") if isinstance(data.get("model"), str) else ""
    expected_version(request, answered, input_tokens, output_tokens)
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            raise invalid("the model refused to answer")
        raise invalid("the model's message has no content")
    fenced = _FENCE.match(content)
    try:
        parsed = parse_json(fenced.group("body") if fenced else content)
    except ValueError:
        raise invalid("the model's answer is not JSON") from None
    try:
        wrapper = _Wrapper.model_validate(parsed)
    except ValidationError as error:
        # Named by the envelope's own fields: an unexpected one's name is the remote's.
        problems = "; ".join(
            "an unexpected field"
            if e["type"] == "extra_forbidden"
            else f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise invalid(f"the model's answer is not in the expected form: {problems}") from None
    required = set(request.output_schema.get("required", []))
    suggestion = {k: v for k, v in wrapper.suggestion.items() if v is not None or k in required}
    output = valid_suggestion(request, suggestion, invalid)
    advice = Advice(
        output=output,
        confidence=wrapper.confidence,
        explanation=wrapper.rationale[:_RATIONALE_LIMIT],
        factors=tuple(Factor(f.name, f.weight, f.value) for f in wrapper.factors),
        sources=(),
        model_version=answered or asked,
    )
    return Answer(advice, input_tokens, output_tokens)


def _message(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    return message if isinstance(message, dict) else None


def _usage(data: Any) -> tuple[int | None, int | None]:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None, None
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
