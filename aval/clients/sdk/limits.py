"""What the SDK refuses before sending because the gateway would: JSON values nested too
deeply, and JSON values over the gateway's payload limit when it is known."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from aval.clients.sdk.errors import FieldViolation, InvalidArgumentError
from aval.v1 import gateway_pb2, review_pb2

# The gateway's limit (MAX_JSON_DEPTH in aval/service/requests/): levels of objects and arrays a
# JSON value may nest, itself counted. Deeper values could not be read back from every response
# within protobuf's 100 levels of messages; past 33 levels the request itself cannot be decoded.
MAX_JSON_DEPTH = 30


def json_depth(value: Any) -> int:
    """Levels of objects and arrays in `value`, itself counted (0 for a number or a string).
    Iterative, so that no depth makes it fail; stops counting past `MAX_JSON_DEPTH`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            items: Any = item.values()
        elif isinstance(item, list | tuple):
            items = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((inner, level + 1) for inner in items)
    return deepest


def check_nesting(value: Mapping[str, Any], field: str) -> None:
    """Refuses a JSON value the gateway would refuse for its nesting.

    Raises:
        InvalidArgumentError: ``value`` nests deeper than `MAX_JSON_DEPTH` (``NESTED_TOO_DEEP``).
    """
    if json_depth(value) > MAX_JSON_DEPTH:
        description = f"JSON nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays"
        raise InvalidArgumentError(
            f"invalid request: {field}: {description}",
            violations=[
                FieldViolation(field=field, description=description, reason="NESTED_TOO_DEEP")
            ],
            reason="INVALID_ARGUMENT",
        )


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {k: _plain(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        # As the gateway reads them: whole numbers are integers.
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number
    return getattr(value, kind) if kind in ("string_value", "bool_value") else None


def payload_bytes(struct: struct_pb2.Struct) -> int:
    """The size the gateway gives a JSON value: bytes of its canonical JSON."""
    plain = {k: _plain(v) for k, v in struct.fields.items()}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode())


def _payloads(request: Message) -> list[tuple[str, struct_pb2.Struct]]:
    if isinstance(request, gateway_pb2.ProposeRequest):
        found = [("input", request.input)]
        if request.HasField("attested_suggestion"):
            found.append(("suggestion", request.attested_suggestion.output))
        return found
    if isinstance(request, review_pb2.DecideRequest) and request.HasField("amended_output"):
        return [("amended_output", request.amended_output)]
    return []


def check_payloads(request: Message, limit: int) -> None:
    """Refuses a request whose JSON values are over the gateway's payload limit.

    Raises:
        InvalidArgumentError: with reason ``TOO_LARGE`` for each value over `limit` bytes.
    """
    violations = [
        FieldViolation(
            field=field,
            description=f"larger than the limit of {limit} bytes",
            reason="TOO_LARGE",
        )
        for field, struct in _payloads(request)
        if payload_bytes(struct) > limit
    ]
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise InvalidArgumentError(
            f"invalid request: {summary}", violations=violations, reason="INVALID_ARGUMENT"
        )
