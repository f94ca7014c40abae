"""The AI systems behind the gateway: OpenAI-compatible HTTP servers and gRPC Advisors.

`Backends.suggest` asks one AI system for a suggestion and always returns a `CallOutcome`:
SUGGESTED with a validated `Advice`, or UNAVAILABLE / INVALID_OUTPUT with a detail for the
reviewers, so that an AI failure never loses a proposal (it goes to review flagged, without
a suggestion). `schema` holds the JSON Schema subset of decision types' outputs.
"""

from aval.policies.output_schema import (
    OutputError,
    SchemaError,
    check_output_schema,
    output_model,
    validate_output,
)
from aval.service.ai.backends.base import (
    Advice,
    AdviceRequest,
    BackendConfig,
    BackendKind,
    CallOutcome,
    CallStatus,
)
from aval.service.ai.backends.calls import SPAN_NAME, Backends
from aval.service.ai.backends.resilience import Backoff, BreakerState, CircuitBreaker

__all__ = [
    "SPAN_NAME",
    "Advice",
    "AdviceRequest",
    "BackendConfig",
    "BackendKind",
    "Backends",
    "Backoff",
    "BreakerState",
    "CallOutcome",
    "CallStatus",
    "CircuitBreaker",
    "OutputError",
    "SchemaError",
    "check_output_schema",
    "output_model",
    "validate_output",
]
