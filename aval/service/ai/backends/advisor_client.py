"""The gRPC `Advisor` an AI team implements (proto/aval/v1/advisor.proto), as a backend."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

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
    bounded,
    expected_version,
    valid_suggestion,
)
from aval.service.ai.egress import ip_literal
from aval.v1 import advisor_pb2, advisor_pb2_grpc

# Codes worth another attempt: the advisor is down, overloaded or too slow this time.
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_TEXT_LIMIT = 4000
# Channels kept per endpoint, one per set of checked addresses its host name resolved to.
_CHANNELS = 4
# Seconds a replaced channel's calls in flight get before it closes.
_GRACE = 30.0


class AdvisorBackend:
    """One Advisor endpoint. `grpcs://host:port` uses TLS with the system's root certificates;
    `host:port` (or `grpc://host:port`) is plaintext.

    Calls go to the addresses the egress policy checked for them, never through a resolution
    of gRPC's own: one channel per such set of addresses (the host's name stays the channel's
    authority and, with TLS, the name its certificate must bear), reused by calls.
    """

    def __init__(self, endpoint: str) -> None:
        self._secure = endpoint.startswith("grpcs://")
        address = endpoint.removeprefix("grpcs://").removeprefix("grpc://")
        host, _, port = address.rpartition(":")
        self._host, self._port = host.removeprefix("[").removesuffix("]"), int(port)
        self._authority = address
        self._channels: OrderedDict[str, grpc.aio.Channel] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def _target(self, addresses: tuple[str, ...]) -> str:
        if len(addresses) == 1 and ip_literal(addresses[0]) is None:
            return f"dns:///{addresses[0]}:{self._port}"  # allowed by its name, as such
        ipv4 = [a for a in addresses if ":" not in a]
        if ipv4:
            return "ipv4:" + ",".join(f"{a}:{self._port}" for a in ipv4)
        return "ipv6:" + ",".join(f"[{a}]:{self._port}" for a in addresses)

    def _stub(self, addresses: tuple[str, ...]) -> advisor_pb2_grpc.AdvisorAsyncStub:
        target = self._target(addresses)
        channel = self._channels.get(target)
        if channel is None:
            options: list[tuple[str, Any]] = [("grpc.default_authority", self._authority)]
            if self._secure:
                options.append(("grpc.ssl_target_name_override", self._host))
                channel = grpc.aio.secure_channel(
                    target, grpc.ssl_channel_credentials(), options=options
                )
            else:
                channel = grpc.aio.insecure_channel(target, options=options)
            self._channels[target] = channel
            while len(self._channels) > _CHANNELS:
                _, old = self._channels.popitem(last=False)
                task = asyncio.create_task(old.close(_GRACE))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._channels.move_to_end(target)
        return advisor_pb2_grpc.AdvisorStub(channel)

    async def aclose(self) -> None:
        channels, self._channels = list(self._channels.values()), OrderedDict()
        for channel in channels:
            await channel.close(None)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def attempt(
        self,
        config: BackendConfig,
        request: AdviceRequest,
        trace_headers: dict[str, str],
        access: Access,
    ) -> Answer:
        metadata = [(name.lower(), value) for name, value in trace_headers.items()]
        if access.api_key is not None:
            metadata.append(("authorization", f"Bearer {access.api_key}"))
        message = advisor_pb2.SuggestRequest(
            tenant=request.tenant,
            decision_type=request.decision_type,
            input=_struct(request.input),
            model_version=request.model_version,
            output_schema=_struct(request.output_schema),
            decision_id=str(request.decision_id),
        )
        stub = self._stub(access.addresses)
        try:
            response = await stub.Suggest(message, timeout=config.timeout, metadata=tuple(metadata))
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                detail = f"no answer within {config.timeout:g} s"
            else:
                # Only the status: the details are the remote's text.
                detail = f"the advisor failed with {code.name}"
            kind = FailureKind.TRANSIENT if code in _TRANSIENT else FailureKind.REFUSED
            raise AttemptFailed(kind, bounded(detail, 200)) from None
        return _read(response, request)


def _read(response: advisor_pb2.SuggestResponse, request: AdviceRequest) -> Answer:
    input_tokens = output_tokens = None
    if response.HasField("usage"):
        input_tokens = max(0, response.usage.input_tokens)
        output_tokens = max(0, response.usage.output_tokens)

    invalid = InvalidOutput(input_tokens, output_tokens)

    expected_version(request, response.model_version, input_tokens, output_tokens)
    confidence: float | None = None
    if response.HasField("confidence"):
        confidence = response.confidence
        if not (math.isfinite(confidence) and 0 <= confidence <= 1):
            raise invalid(f"the confidence {confidence!r} is outside [0, 1]")
    suggestion = _plain(json_format.MessageToDict(response.suggestion))
    output = valid_suggestion(request, suggestion, invalid)
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
