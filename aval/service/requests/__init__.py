"""Validated requests, the use cases' input: Pydantic models named after the wire fields they
check (I6), read from wire messages by `parse`; the models are in the module of their context
(decisions, audit, admin), with `TenantIn` here as every context asks for a tenant alone."""

from __future__ import annotations

import math
from datetime import UTC
from typing import Annotated, Any, Literal, TypeVar

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from aval.service.errors import FieldViolation, InvalidArgument
from aval.service.text import visible

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
# A name a person reads to know what they act on: never only invisible characters (item 14).
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$"),
    AfterValidator(visible),
]
Language = Literal["fr", "en"]
M = TypeVar("M", bound="Request")
# Levels of objects and arrays a JSON value may nest, itself counted: the deepest that every
# response still carries within protobuf's 100 levels of messages (31 in an audit event, where
# a suggestion's output sits two levels down its data), with one to spare.
MAX_JSON_DEPTH = 30


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TenantIn(Request):
    tenant: str = ""


class ListCheckpointsIn(TenantIn):
    # The newest N checkpoints only; all when 0.
    newest: int = Field(default=0, ge=0)


# Pydantic's error types -> reasons of refusals.VIOLATIONS.
_VIOLATIONS = {
    "missing": "REQUIRED",
    "string_too_short": "REQUIRED",
    "uuid_parsing": "NOT_A_UUID",
    "uuid_type": "NOT_A_UUID",
    "string_pattern_mismatch": "ONE_WORD",
    "too_short": "NOT_EMPTY",
    "literal_error": "ONE_OF",
    "greater_than": "OUT_OF_RANGE",
    "greater_than_equal": "OUT_OF_RANGE",
    "less_than": "OUT_OF_RANGE",
    "less_than_equal": "OUT_OF_RANGE",
    "string_too_long": "TOO_LONG",
    "too_long": "TOO_MANY",
    "no_visible_text": "VISIBLE_TEXT_REQUIRED",
}


def _violation(error: Any) -> FieldViolation:
    reason = _VIOLATIONS.get(error["type"], "INVALID_VALUE")
    context = error.get("ctx") or {}
    params = {
        "detail": error["msg"],
        "allowed": context.get("expected", ""),
        "limit": context.get("max_length", ""),
    }
    return FieldViolation(".".join(str(p) for p in error["loc"]), reason, params)


class _Unreadable(ValueError):
    """A field whose value cannot be represented: a NaN or infinite number (JSON, and so the
    trail, cannot hold it), or a timestamp or duration out of range."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path)
        self.path, self.reason = path, reason


def _json_value(value: struct_pb2.Value, path: str, depth: int) -> Any:
    kind = value.WhichOneof("kind")
    if kind in ("struct_value", "list_value") and depth >= MAX_JSON_DEPTH:
        raise _Unreadable(path, "NESTED_TOO_DEEP")
    if kind == "struct_value":
        return _json_object(value.struct_value, path, depth + 1)
    if kind == "list_value":
        values = value.list_value.values
        return [_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(values)]
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise _Unreadable(path, "NOT_FINITE")
        # Whole numbers come back as integers: amounts are integers of the smallest unit.
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None


def _json_object(struct: struct_pb2.Struct, path: str, depth: int = 1) -> dict[str, Any]:
    return {key: _json_value(v, f"{path}.{key}", depth) for key, v in struct.fields.items()}


def _time_value(value: timestamp_pb2.Timestamp | duration_pb2.Duration, path: str) -> Any:
    try:
        if isinstance(value, timestamp_pb2.Timestamp):
            return value.ToDatetime(tzinfo=UTC)
        return value.ToTimedelta()
    except (ValueError, OverflowError) as exc:
        raise _Unreadable(path, "OUT_OF_RANGE") from exc


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _message_value(value: Message, path: str) -> Any:
    if isinstance(value, struct_pb2.Struct):
        return _json_object(value, path)
    if isinstance(value, timestamp_pb2.Timestamp | duration_pb2.Duration):
        return _time_value(value, path)
    return message_fields(value, f"{path}.")


def message_fields(message: Message, path: str = "") -> dict[str, Any]:
    """The fields set in a request message, as plain Python values keyed by wire name.

    Unset scalars are left out, so that a missing required field is reported as missing.
    """
    data: dict[str, Any] = {}
    for field, value in message.ListFields():
        where = f"{path}{field.name}"
        if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            # proto3 enums accept any number: one the contract does not name is left as a
            # number, for validation to refuse.
            known = field.enum_type.values_by_number.get(value)
            data[field.name] = known.name if known is not None else value
        elif field.type != FieldDescriptor.TYPE_MESSAGE:
            data[field.name] = list(value) if field.is_repeated else value
        elif _is_map(field):
            data[field.name] = {
                key: _message_value(item, f"{where}.{key}") if isinstance(item, Message) else item
                for key, item in value.items()
            }
        elif field.is_repeated:
            data[field.name] = [_message_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            data[field.name] = _message_value(value, where)
    return data


def _named_key(key: str) -> str:
    # A key is part of a field's path: its NUL is named, never echoed.
    return key.replace("\x00", "\\u0000")


def _value_nuls(value: struct_pb2.Value, path: str) -> list[str]:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return [path] if "\x00" in value.string_value else []
    if kind == "struct_value":
        return _struct_nuls(value.struct_value, path)
    if kind == "list_value":
        return [
            found
            for i, item in enumerate(value.list_value.values)
            for found in _value_nuls(item, f"{path}[{i}]")
        ]
    return []


def _struct_nuls(struct: struct_pb2.Struct, path: str) -> list[str]:
    found = []
    for key, value in struct.fields.items():
        where = f"{path}.{_named_key(key)}"
        found += [where] if "\x00" in key else _value_nuls(value, where)
    return found


def _item_nuls(item: Any, path: str) -> list[str]:
    if isinstance(item, struct_pb2.Struct):
        return _struct_nuls(item, path)
    if isinstance(item, struct_pb2.Value):
        return _value_nuls(item, path)
    if isinstance(item, Message):
        return nul_fields(item, f"{path}.")
    return [path] if isinstance(item, str) and "\x00" in item else []


def nul_fields(message: Message, path: str = "") -> list[str]:
    """The wire path of every string of `message` that holds a NUL character (U+0000).

    PostgreSQL can store no NUL in text or JSON, and no person means one: every string is
    looked at, set or repeated, map keys and values, Struct keys and values at any depth, in
    fields a request model reads and in those it ignores alike.
    """
    found: list[str] = []
    for field, value in message.ListFields():
        where = f"{path}{field.name}"
        if field.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE):
            continue
        if _is_map(field):
            for key, item in value.items():
                at = f"{where}.{_named_key(key)}" if isinstance(key, str) else f"{where}.{key}"
                found += [at] if isinstance(key, str) and "\x00" in key else _item_nuls(item, at)
        elif field.is_repeated:
            for i, item in enumerate(value):
                found += _item_nuls(item, f"{where}[{i}]")
        else:
            found += _item_nuls(value, where)
    return found


def parse(model: type[M], message: Message) -> M:
    """Validates a request message into `model`, reporting every bad field at once.

    Raises:
        InvalidArgument: with one field violation per problem, named by wire field path.
    """
    try:
        data = message_fields(message)
    except _Unreadable as exc:
        params = {"detail": "cannot be represented", "limit": MAX_JSON_DEPTH}
        raise InvalidArgument([FieldViolation(exc.path, exc.reason, params)]) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument([_violation(err) for err in exc.errors()]) from exc
