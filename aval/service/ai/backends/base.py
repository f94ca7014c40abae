"""What the gateway asks an AI backend and what it gets back, whatever the protocol.

`BackendConfig`, `AdviceRequest`, `Advice` and `CallOutcome` are the interface the Propose flow
uses. `Answer` and the failures below are how one protocol adapter (OpenAI-compatible HTTP,
gRPC Advisor) reports one attempt to the retry loop, which turns them into a `CallOutcome`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from aval.audit_store.records import Factor
from aval.policies.output_schema import OutputError, SchemaError, validate_output

# Reviewers read the detail beside the flag, and the trail keeps it: short, and never a secret.
DETAIL_LIMIT = 300

BackendKind = Literal["OPENAI_COMPATIBLE", "ADVISOR"]
CallStatus = Literal["SUGGESTED", "UNAVAILABLE", "INVALID_OUTPUT"]


@dataclass(frozen=True)
class BackendConfig:
    """How to reach one AI system of a tenant, built by the caller from its registry row."""

    tenant: str
    # The AI system's name in the registry.
    name: str
    kind: BackendKind
    # Base URL ending in /v1 for an OpenAI-compatible API; host:port for an Advisor
    # (grpcs://host:port for TLS with the system's roots).
    endpoint: str
    # The model name sent to an OpenAI-compatible backend when no version is requested.
    model: str
    # The name of a secret the operator declared for the tenant in its egress file, which
    # holds the API key ("" = none); resolved at call time through the operator's map only.
    api_key_secret: str
    # Seconds per attempt.
    timeout: float
    # Attempts per call, 1 to 5.
    max_attempts: int


@dataclass(frozen=True)
class AdviceRequest:
    """One question to an AI system: the case of a decision and the shape of the answer."""

    tenant: str
    decision_type: str
    decision_id: uuid.UUID
    input: dict[str, Any]
    # JSON Schema in the subset of `schema.py`.
    output_schema: dict[str, Any]
    # The pinned (or shadow) version; "" asks for the backend's current one.
    model_version: str
    # The decision type's purpose, for the model's instructions (French is fine).
    instructions: str


@dataclass(frozen=True)
class Advice:
    """A valid answer of an AI system."""

    # Satisfies the request's output schema.
    output: dict[str, Any]
    # In [0, 1], when the backend gives one.
    confidence: float | None
    explanation: str
    factors: tuple[Factor, ...]
    sources: tuple[str, ...]
    # The version that answered.
    model_version: str


@dataclass(frozen=True)
class Access:
    """What the egress policy grants one call: the API key (None: none), and where to connect:
    the host name itself, or the checked addresses of a name allowed through a network."""

    api_key: str | None
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class CallOutcome:
    """What became of one call (all its attempts); `advice` is set iff SUGGESTED."""

    status: CallStatus
    advice: Advice | None
    # English, for the reviewers' flag and the trail; at most DETAIL_LIMIT characters. Never
    # text from the backend's errors: a status and a fixed reason.
    detail: str
    attempts: int
    # UTC.
    started_at: datetime
    latency_ms: int
    input_tokens: int | None
    output_tokens: int | None
    # Why the egress policy prevented the call (service/egress.py), "" when it did not.
    refusal: str = ""


@dataclass(frozen=True)
class Answer:
    """A valid answer to one attempt, with the tokens it cost when the backend counts them."""

    advice: Advice
    input_tokens: int | None = None
    output_tokens: int | None = None


class FailureKind(enum.Enum):
    # Worth another attempt: timeout, connection error, HTTP 5xx/429, gRPC UNAVAILABLE…
    TRANSIENT = "transient"
    # The backend answered and refused (other 4xx, other gRPC codes): no retry.
    REFUSED = "refused"
    # The backend answered with something unusable: not JSON, out of schema, another model.
    INVALID_OUTPUT = "invalid_output"
    # The call could not be made as configured.
    MISCONFIGURED = "misconfigured"


class AttemptFailed(Exception):
    """One attempt did not produce a valid answer; `detail` is safe to show and record: it is
    written here, never copied from the backend's error."""

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        # Tokens an invalid answer still cost.
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class Backend(Protocol):
    """One backend's protocol adapter: makes single attempts, raising AttemptFailed."""

    async def attempt(
        self,
        config: BackendConfig,
        request: AdviceRequest,
        trace_headers: dict[str, str],
        access: Access,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


# What PostgreSQL cannot store in text or JSON: NUL, and surrogates (no UTF-8 holds them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any) -> bool:
    """Whether any string in `value` (keys of dicts, items of lists and tuples, fields of
    dataclasses included) holds a character the database refuses."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(unstorable(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


# What an answer may hold beside its suggestion and explanation, as a request may (ModelIn).
MAX_NAME = 200
MAX_ITEMS = 50
MAX_SOURCE = 500


def storable_answer(answer: Answer) -> Answer:
    """`answer` itself, when the database can keep every string of it, within bounds.

    An AI system's answer is input like any other: one NUL in its rationale must not make the
    proposal fail (I6), nor may a version name or a list of factors of any length be kept in
    every event and report, so such an answer is an invalid one.

    Raises:
        AttemptFailed (INVALID_OUTPUT): a string of the answer holds NUL or a lone surrogate,
            or its version, factors or sources exceed the bounds above.
    """
    advice = answer.advice
    problem = ""
    if unstorable(advice):
        problem = "holds a character that cannot be stored (U+0000 or an unpaired surrogate)"
    elif len(advice.model_version) > MAX_NAME:
        problem = f"names a version longer than {MAX_NAME} characters"
    elif len(advice.factors) > MAX_ITEMS or len(advice.sources) > MAX_ITEMS:
        problem = f"lists more than {MAX_ITEMS} factors or sources"
    elif any(len(f.name) > MAX_NAME or len(f.value) > MAX_NAME for f in advice.factors) or any(
        len(source) > MAX_SOURCE for source in advice.sources
    ):
        problem = "holds a factor or a source longer than allowed"
    if problem:
        raise AttemptFailed(
            FailureKind.INVALID_OUTPUT,
            f"the AI system's answer {problem}",
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
        )
    return answer


def bounded(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line, cut to `limit` characters, without what the database refuses."""
    flat = " ".join(_UNSTORABLE.sub("\ufffd", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class InvalidOutput:
    """Makes the INVALID_OUTPUT failures of one answer, carrying the tokens it still cost."""

    def __init__(self, input_tokens: int | None, output_tokens: int | None) -> None:
        self.input_tokens, self.output_tokens = input_tokens, output_tokens

    def __call__(self, detail: str) -> AttemptFailed:
        return AttemptFailed(
            FailureKind.INVALID_OUTPUT,
            bounded(detail),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )


def valid_suggestion(
    request: AdviceRequest, suggestion: Any, invalid: InvalidOutput
) -> dict[str, Any]:
    """The suggestion checked against the decision type's output schema.

    Raises:
        AttemptFailed (INVALID_OUTPUT): it does not satisfy the schema.
    """
    try:
        return validate_output(request.output_schema, suggestion)
    except (OutputError, SchemaError) as error:
        raise invalid(f"the suggestion does not satisfy the output schema: {error}") from None


def expected_version(
    request: AdviceRequest,
    answered: str,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> None:
    """A backend must answer with the version asked for, when one was.

    Raises:
        AttemptFailed (INVALID_OUTPUT): naming both versions.
    """
    if request.model_version and answered != request.model_version:
        got = repr(answered[:60]) if answered else "no version"
        raise AttemptFailed(
            FailureKind.INVALID_OUTPUT,
            f"the AI system answered with {got}, not the requested version "
            f"{request.model_version!r}",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
