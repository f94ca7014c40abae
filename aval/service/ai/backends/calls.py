"""One call to an AI system: the egress check, circuit breaker, retries, a client span, and
its outcome."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from aval.policies.output_schema import SchemaError, check_output_schema
from aval.service.ai import egress
from aval.service.ai.backends.advisor_client import AdvisorBackend
from aval.service.ai.backends.base import (
    Access,
    AdviceRequest,
    Answer,
    Backend,
    BackendConfig,
    CallOutcome,
    CallStatus,
    FailureKind,
    bounded,
    storable_answer,
)
from aval.service.ai.backends.guarded_http import GuardedTransport
from aval.service.ai.backends.openai_compat import OpenAICompatBackend
from aval.service.ai.backends.resilience import Backoff, CircuitBreaker, Permit, Tried, with_retries
from aval.service.ai.egress import EgressPolicy, EgressRefused, target_of

SPAN_NAME = "aval.ai.suggest"
# Failures that say nothing about the backend's health: it answered.
_ANSWERED = frozenset({FailureKind.INVALID_OUTPUT, FailureKind.REFUSED})
# Why the egress policy prevented a call, for the reviewers' flag and the trail.
_PREVENTED = {
    egress.ENDPOINT_NOT_ALLOWED: (
        "the endpoint of {name!r} is not on this tenant's AI egress allow-list "
        f"({egress.SETTING})"
    ),
    egress.ENDPOINT_UNRESOLVED: "the host name of the endpoint of {name!r} does not resolve",
    egress.SECRET_NOT_DECLARED: (
        "the API key of {name!r} is not a secret the operator declared for this tenant "
        f"({egress.SETTING})"
    ),
    egress.SECRET_UNSET: "the secret holding the API key of {name!r} has no value on this server",
}


class Backends:
    """The AI backends of one process.

    One HTTP client or gRPC channel per backend (tenant, AI system, kind, endpoint), reused by
    every call; one circuit breaker per backend and model version asked, so that a failing
    candidate version in shadow mode does not cut off the pinned one.

    Args:
        failure_threshold: consecutive failed calls that open a breaker.
        cooldown: seconds a breaker stays open before it lets a probe through.
        backoff: the sleeps between attempts.
        clock: monotonic seconds, for the breakers.
        sleep: awaited between attempts.
        draw: uniform draws in [0, 1) for the backoff's jitter.
        tracer_provider: where the client spans go (the global provider by default).
    """

    def __init__(
        self,
        *,
        egress: EgressPolicy | None = None,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._egress = egress or EgressPolicy.none()
        self._threshold = failure_threshold
        self._cooldown = cooldown
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._sleep = sleep
        self._draw = draw
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._backends: dict[tuple[str, str, str, str], Backend] = {}
        self._breakers: dict[tuple[str, str, str, str], CircuitBreaker] = {}

    def breaker(self, config: BackendConfig, request: AdviceRequest) -> CircuitBreaker:
        """The breaker that guards calls of `config` for the version `request` asks."""
        key = (config.tenant, config.name, config.endpoint, _asked(config, request))
        found = self._breakers.get(key)
        if found is None:
            found = CircuitBreaker(self._threshold, self._cooldown, self._clock)
            self._breakers[key] = found
        return found

    async def suggest(self, config: BackendConfig, request: AdviceRequest) -> CallOutcome:
        """Asks the AI system of `config` for a suggestion.

        Never raises for an AI failure: an unreachable, failing, slow or misconfigured
        backend gives UNAVAILABLE, an answer outside the schema (or from another version than
        the one asked) gives INVALID_OUTPUT, each with an English detail for the reviewers.
        An endpoint or a secret the egress policy does not allow gives UNAVAILABLE with the
        `refusal`, and nothing is sent.
        """
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        asked = _asked(config, request)
        attributes: dict[str, str] = {
            "aval.tenant": config.tenant,
            "aval.ai_system": config.name,
            "aval.decision_type": request.decision_type,
            "aval.decision_id": str(request.decision_id),
            "aval.model_version": asked,
        }
        if config.kind == "OPENAI_COMPATIBLE":
            attributes |= {"gen_ai.operation.name": "chat", "gen_ai.request.model": asked}
        else:
            attributes |= {"rpc.system": "grpc", "rpc.service": "aval.v1.Advisor"}
        with self._tracer.start_as_current_span(
            SPAN_NAME, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:

            def outcome(
                status: CallStatus, detail: str, tried: Tried | None = None, refusal: str = ""
            ) -> CallOutcome:
                result = _outcome(status, detail, tried, started_at, start, refusal)
                _annotate(span, result)
                return result

            try:
                check_output_schema(request.output_schema)
            except SchemaError as error:
                return outcome("UNAVAILABLE", f"not called: {error}")
            try:
                access = await self._access(config)
            except EgressRefused as refused:
                why = _PREVENTED[refused.reason].format(name=config.name)
                return outcome("UNAVAILABLE", f"not called: {why}", refusal=refused.reason)
            backend = self._backend(config)
            if isinstance(backend, str):
                return outcome("UNAVAILABLE", backend)
            breaker = self.breaker(config, request)
            permit = breaker.admit()
            if permit is None:
                return outcome(
                    "UNAVAILABLE",
                    f"circuit open: {config.name!r} failed {breaker.threshold} calls in a "
                    f"row; calls resume after a {breaker.cooldown:g} s cool-down",
                )
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            tried = await self._attempts(backend, config, request, carrier, access, breaker, permit)
            failure = tried.failure
            if failure is None:
                return outcome("SUGGESTED", "", tried)
            detail = failure.detail
            if tried.attempts > 1:
                detail = f"{detail} (after {tried.attempts} attempts)"
            if failure.kind is FailureKind.INVALID_OUTPUT:
                return outcome("INVALID_OUTPUT", detail, tried)
            return outcome("UNAVAILABLE", detail, tried)

    async def _access(self, config: BackendConfig) -> Access:
        """The endpoint's checked addresses, then the API key, from the egress policy.

        Raises:
            EgressRefused: the policy allows one or the other to nobody of this tenant.
        """
        try:
            target = target_of(config.kind, config.endpoint)
        except ValueError:
            raise EgressRefused(egress.ENDPOINT_NOT_ALLOWED) from None
        addresses = await self._egress.addresses(config.tenant, target.host, target.port)
        return Access(self._egress.api_key(config.tenant, config.api_key_secret), addresses)

    async def _attempts(
        self,
        backend: Backend,
        config: BackendConfig,
        request: AdviceRequest,
        carrier: dict[str, str],
        access: Access,
        breaker: CircuitBreaker,
        permit: Permit,
    ) -> Tried:
        try:
            tried = await with_retries(
                lambda: _storable(backend.attempt(config, request, carrier, access)),
                max_attempts=config.max_attempts,
                backoff=self._backoff,
                sleep=self._sleep,
                draw=self._draw,
            )
        except BaseException:
            breaker.abandon(permit)
            raise
        failure = tried.failure
        if failure is not None and failure.kind is FailureKind.MISCONFIGURED:
            breaker.abandon(permit)  # nothing was sent: the backend's health is unknown
        else:
            breaker.record(permit, ok=failure is None or failure.kind in _ANSWERED)
        return tried

    def _backend(self, config: BackendConfig) -> Backend | str:
        """The backend's client, made on first use; or why there cannot be one."""
        key = (config.tenant, config.name, config.kind, config.endpoint)
        found = self._backends.get(key)
        if found is not None:
            return found
        made: Backend
        if config.kind == "OPENAI_COMPATIBLE":
            if not config.endpoint.startswith(("http://", "https://")):
                return (
                    f"not called: the endpoint of {config.name!r} must be an http(s) URL "
                    "ending in /v1"
                )
            guard = GuardedTransport(functools.partial(self._egress.addresses, config.tenant))
            try:
                made = OpenAICompatBackend(config.endpoint, transport=guard)
            except httpx.InvalidURL:
                return f"not called: the endpoint of {config.name!r} is not a valid URL"
        elif config.kind == "ADVISOR":
            made = AdvisorBackend(config.endpoint)
        else:
            return f"not called: unknown backend kind {config.kind!r}"
        self._backends[key] = made
        return made

    async def aclose(self) -> None:
        """Closes every client and channel; the object may not be used afterwards."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()


def _asked(config: BackendConfig, request: AdviceRequest) -> str:
    if request.model_version:
        return request.model_version
    return config.model if config.kind == "OPENAI_COMPATIBLE" else ""


# More tokens than any one call consumes: such a count is the backend's error, not a count.
_MAX_TOKENS = 10**12


def _plausible(tokens: int | None) -> int | None:
    return tokens if tokens is not None and 0 <= tokens <= _MAX_TOKENS else None


async def _storable(attempt: Awaitable[Answer]) -> Answer:
    return storable_answer(await attempt)


def _outcome(
    status: CallStatus,
    detail: str,
    tried: Tried | None,
    started_at: datetime,
    start: float,
    refusal: str = "",
) -> CallOutcome:
    answer = tried.answer if tried is not None else None
    failure = tried.failure if tried is not None else None
    source = answer if answer is not None else failure
    return CallOutcome(
        status=status,
        advice=answer.advice if answer is not None else None,
        detail=bounded(detail),
        attempts=tried.attempts if tried is not None else 0,
        started_at=started_at,
        latency_ms=max(0, round((time.perf_counter() - start) * 1000)),
        input_tokens=_plausible(source.input_tokens) if source is not None else None,
        output_tokens=_plausible(source.output_tokens) if source is not None else None,
        refusal=refusal,
    )


def _annotate(span: Span, outcome: CallOutcome) -> None:
    span.set_attribute("aval.ai.status", outcome.status)
    span.set_attribute("aval.ai.attempts", outcome.attempts)
    if outcome.advice is not None:
        span.set_attribute("aval.model_version", outcome.advice.model_version)
        span.set_attribute("gen_ai.response.model", outcome.advice.model_version)
    if outcome.input_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", outcome.input_tokens)
    if outcome.output_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", outcome.output_tokens)
    if outcome.status != "SUGGESTED":
        span.set_attribute("error.type", outcome.status)
        span.set_status(Status(StatusCode.ERROR, outcome.detail))
