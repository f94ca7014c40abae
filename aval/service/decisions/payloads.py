"""The JSON a caller sends (inputs, attested suggestions, amendments): the size limit, and the
decision type's output schema for what may become an outcome (I6)."""

from __future__ import annotations

from typing import Any

from aval.policies import ReviewPolicy
from aval.policies.output_schema import OutputError, validate_output
from aval.service.errors import FieldViolation
from aval.verifier.chain import canonical_json


def size_violations(payload: dict[str, Any] | None, field: str, limit: int) -> list[FieldViolation]:
    """A violation of `field` when its canonical JSON is larger than `limit` bytes."""
    if payload is None or len(canonical_json(payload)) <= limit:
        return []
    return [FieldViolation(field, "TOO_LARGE", {"limit": limit})]


def schema_violations(
    policy: ReviewPolicy, output: dict[str, Any], field: str
) -> list[FieldViolation]:
    """One violation per place where `output` breaks its decision type's output schema.

    A type without an output schema takes any object. Each violation names the place inside
    the output, e.g. `amended_output.service` or `attested_suggestion.output.etiquettes[1]`.
    """
    if policy.output_schema is None:
        return []
    try:
        validate_output(policy.output_schema, output)
    except OutputError as error:
        return [
            FieldViolation(
                f"{field}.{path}" if path else field,
                "OUTPUT_SCHEMA",
                {"decision_type": policy.decision_type, "detail": what},
            )
            for path, what in error.places
        ]
    return []
