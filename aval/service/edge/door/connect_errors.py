"""Refusals in the Connect protocol's error form: a google.rpc.Status (the very one the gRPC
server sent, or one of the door's own refusals) as `{"code", "message", "details"}` JSON.

Each detail carries Connect's `type` and base64 `value`, and a `debug` copy of the message in
proto3 JSON so that a person (or a PHP script) reads it without decoding anything.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aval.service.errors import DEFAULT_LANGUAGE, DomainError, to_status

# The HTTP status of each code, as the Connect protocol's table gives it.
HTTP_STATUS = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}
# The detail messages whose JSON form the door shows (those Aval's refusals carry).
_KNOWN_DETAILS = {
    kind.DESCRIPTOR.full_name: kind
    for kind in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.LocalizedMessage,
        error_details_pb2.BadRequest,
        error_details_pb2.RetryInfo,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.ResourceInfo,
        error_details_pb2.Help,
    )
}


class Unimplemented(DomainError):
    """No such procedure, or not over this door (an HTTP method or form it does not serve)."""

    code = grpc.StatusCode.UNIMPLEMENTED


def code_name(code: int) -> str:
    """Connect's name of a google.rpc.Code number ("permission_denied"); "unknown" if none."""
    try:
        name = code_pb2.Code.Name(code)
    except ValueError:
        return "unknown"
    return name.lower() if name != "OK" else "unknown"


def _detail(packed: Any) -> dict[str, Any]:
    type_name = str(packed.type_url).rsplit("/", 1)[-1]
    shown: dict[str, Any] = {
        "type": type_name,
        "value": base64.b64encode(packed.value).decode("ascii").rstrip("="),
    }
    kind = _KNOWN_DETAILS.get(type_name)
    if kind is not None:
        message = kind()
        if packed.Unpack(message):
            shown["debug"] = json_format.MessageToDict(message)
    return shown


def error_body(status: status_pb2.Status) -> dict[str, Any]:
    """The Connect error JSON of a google.rpc.Status."""
    body: dict[str, Any] = {"code": code_name(status.code)}
    if status.message:
        body["message"] = status.message
    if status.details:
        body["details"] = [_detail(d) for d in status.details]
    return body


def of_domain(exc: DomainError, language: str = DEFAULT_LANGUAGE) -> status_pb2.Status:
    """The google.rpc.Status of one of the door's own refusals, as the gRPC server words it."""
    return to_status(exc, language)


def of_grpc(code: grpc.StatusCode, details: str | None, trailers: Any) -> status_pb2.Status:
    """The google.rpc.Status a gRPC call ended with: its `grpc-status-details-bin` when the
    server sent one (every refusal of Aval), else its code and message alone."""
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except Exception:  # a malformed trailer: the code and message alone
                break
            return status
    number = code.value[0] if isinstance(code.value, tuple) else int(code.value)
    return status_pb2.Status(code=number, message=details or "")


def http_status(status: status_pb2.Status) -> int:
    return HTTP_STATUS.get(code_name(status.code), 500)


def encoded(status: status_pb2.Status) -> bytes:
    return json.dumps(error_body(status), ensure_ascii=False).encode("utf-8")
