"""The gRPC `Advisor` an AI team implements (proto/aval/v1/advisor.proto), as a backend."""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from aval.audit_store.records import Factor
from aval.policies.output_schema import OutputError, SchemaError, validate_output
from aval.v1 import advisor_pb2, advisor_pb2_grpc

from .base import (
    Advice,
    AdviceRequest,
    Answer,
    AttemptFailed,
    BackendConfig,
    FailureKind,
    api_key,
    bounded,
    expected_version,
    scrubbed,
)

# Codes worth another attempt: the advisor is down, overloaded or too slow this time.
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_TEXT_LIMIT = 4000


class AdvisorBackend:
    """One Advisor endpoint: one channel reused by calls. `grpcs://host:port` uses TLS with
    the system's root certificates; `host:port` (or `grpc://host:port`) is plaintext."""

    def __init__(self, endpoint: str) -> None:
        if endpoint.startswith("grpcs://"):
            self._channel = grpc.aio.secure_channel(
                endpoint.removeprefix("grpcs://"), grpc.ssl_channel_credentials()
            )
        else:
            self._channel = grpc.aio.insecure_channel(endpoint.removeprefix("grpc://"))
        self._stub = advisor_pb2_grpc.AdvisorStub(self._channel)

    async def aclose(self) -> None:
        await self._channel.close(None)

    async def attempt(
        self, config: BackendConfig, request: AdviceRequest, trace_headers: dict[str, str]
    ) -> Answer:
        key = api_key(config)
        metadata = [(name.lower(), value) for name, value in trace_headers.items()]
        if key is not None:
            metadata.append(("authorization", f"Bearer {key}"))
        message = advisor_pb2.SuggestRequest(
            tenant=request.tenant,
            decision_type=request.decision_type,
            input=_struct(request.input),
            model_version=request.model_version,
            output_schema=_struct(request.output_schema),
            decision_id=str(request.decision_id),
        )
        try:
            response = await self._stub.Suggest(
                message, timeout=config.timeout, metadata=tuple(metadata)
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                detail = f"no answer within {config.timeout:g} s"
            else:
                text = scrubbed(error.details() or "", key)
                detail = f"the advisor failed with {code.name}: {text}"
            kind = FailureKind.TRANSIENT if code in _TRANSIENT else FailureKind.REFUSED
            raise AttemptFailed(kind, bounded(detail, 200)) from None
        return _read(response, request)


def _read(response: advisor_pb2.SuggestResponse, request: AdviceRequest) -> Answer:
    input_tokens = output_tokens = None
    if response.HasField("usage"):
        input_tokens = max(0, response.usage.input_tokens)
        output_tokens = max(0, response.usage.output_tokens)

    def invalid(detail: str) -> AttemptFailed:
        return AttemptFailed(
            FailureKind.INVALID_OUTPUT,
            bounded(detail),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    expected_version(request, response.model_version, input_tokens, output_tokens)
    confidence: float | None = None
    if response.HasField("confidence"):
        confidence = response.confidence
        if not (math.isfinite(confidence) and 0 <= confidence <= 1):
            raise invalid(f"the confidence {confidence!r} is outside [0, 1]")
    suggestion = _plain(json_format.MessageToDict(response.suggestion))
    try:
        output = validate_output(request.output_schema, suggestion)
    except (OutputError, SchemaError) as error:
        raise invalid(f"the suggestion does not satisfy the output schema: {error}") from None
    explanation = response.explanation
    factors = []
    for factor in explanation.factors:
        if not math.isfinite(factor.weight):
            raise invalid(f"the factor {factor.name!r} has no finite weight")
        factors.append(Factor(factor.name, factor.weight, factor.value))
    advice = Advice(
        output=output,
        confidence=confidence,
        explanation=explanation.summary[:_TEXT_LIMIT],
        factors=tuple(factors),
        sources=tuple(explanation.sources),
        model_version=response.model_version or request.model_version,
    )
    return Answer(advice, input_tokens, output_tokens)


def _struct(data: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message


def _plain(value: Any) -> Any:
    """A Struct's numbers are all doubles: whole ones become ints again, so that an integer
    property can be checked strictly (a number property accepts an int as well)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
