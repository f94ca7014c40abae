"""The door's ASGI application: each POST /aval.v1.<Service>/<Method> becomes the same call to
the gRPC server over a loopback channel, and its answer (or refusal) becomes JSON.

Unary RPCs speak the Connect protocol's unary form (`application/json`); server-streaming
RPCs its streaming form (`application/connect+json`: 5-byte envelopes, the last one carrying
the end of the stream). What the door refuses itself (a body too large, not JSON, a wrong
content type...) it words exactly as the gRPC server words a refusal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aval.service.edge.door import connect_errors as ce
from aval.service.edge.door.procedures import Procedure, procedures
from aval.service.errors import (
    Aborted,
    DomainError,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unauthenticated,
    language_of,
)
from aval.service.identity import Credentials, Principal
from aval.service.requests import MAX_JSON_DEPTH

log = logging.getLogger("aval")
Authenticate = Callable[[Credentials], Awaitable[Principal]]
UNARY_TYPE = "application/json"
STREAM_TYPE = "application/connect+json"
# Headers the door passes on as gRPC metadata; every `x-aval-*` header too (but binary ones).
FORWARDED = ("authorization", "traceparent", "tracestate", "accept-language")
# The longest a client may take to send its body once its headers are in.
BODY_READ_SECONDS = 10.0
# The longest deadline a client may ask for (Connect-Timeout-Ms).
MAX_TIMEOUT_SECONDS = 3600.0
END_STREAM = 0x02
HEALTH_SECONDS = 3.0
# Nesting proto3 JSON may reach: the deepest JSON value the gateway accepts, inside messages.
_PARSE_DEPTH = MAX_JSON_DEPTH + 16


class Door:
    """Serves every procedure of `procedures()` through `channel` to the gRPC server.

    `authenticate`, the gRPC server's own authenticator, lets the door refuse a caller without
    a valid token before reading its body (the answer is the one the gRPC server gives: the
    same refusal, built by the same function). Bodies are read `slots` at a time, each within
    BODY_READ_SECONDS and `limit` bytes.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        authenticate: Authenticate,
        *,
        limit: int,
        slots: int,
        openapi: Path,
    ) -> None:
        self.channel = channel
        self.authenticate = authenticate
        self.limit = limit
        self.slots = asyncio.Semaphore(slots)
        self.openapi = openapi
        self.procedures = procedures()

    def app(self) -> Starlette:
        routes = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
            Route(
                "/{service}/{method}",
                self.call,
                methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
            ),
        ]

        async def not_found(request: Request, exc: Exception) -> Response:
            language = language_of(_metadata(request))
            return _refusal(_no_procedure(request.url.path), language, 404)

        async def failed(request: Request, exc: Exception) -> Response:
            # Logged for the operator; the caller gets the Connect form, never a trace.
            log.exception("HTTP door: %s %s failed", request.method, request.url.path)
            status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
            return _error_response(status)

        return Starlette(
            routes=routes,
            exception_handlers={404: not_found, 405: not_found, Exception: failed},
        )

    async def healthz(self, request: Request) -> Response:
        """The gRPC server's own health (grpc.health.v1, which follows the database)."""
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            health_pb2.HealthCheckRequest.SerializeToString,
            health_pb2.HealthCheckResponse.FromString,
        )
        try:
            answer = await check(health_pb2.HealthCheckRequest(), timeout=HEALTH_SECONDS)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        except grpc.aio.AioRpcError:
            status = "UNKNOWN"
        return JSONResponse({"status": status}, status_code=200 if status == "SERVING" else 503)

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi.read_bytes(), media_type="application/json")

    async def call(self, request: Request) -> Response:
        metadata = _metadata(request)
        language = language_of(metadata)
        procedure = self.procedures.get(request.url.path)
        if procedure is None:
            return _refusal(_no_procedure(request.url.path), language, 404)
        if request.method != "POST":
            wrong = ce.Unimplemented("HTTP_METHOD", method=request.method)
            return _refusal(wrong, language, 405, {"Allow": "POST"})
        expected = STREAM_TYPE if procedure.server_streaming else UNARY_TYPE
        given = request.headers.get("content-type", "")
        if given.split(";")[0].strip().lower() != expected:
            refusal = InvalidArgument(
                [
                    FieldViolation(
                        "content-type", "CONTENT_TYPE", {"given": given, "expected": expected}
                    )
                ]
            )
            return _refusal(refusal, language, 415)
        try:
            await self.authenticate(Credentials(metadata, None))
            timeout = _timeout(request)
            async with self.slots:
                body = await self._body(request)
            message = _decode(procedure, body)
        except DomainError as exc:
            return _refusal(exc, language)
        if procedure.server_streaming:
            return self._stream(procedure, message, metadata, timeout)
        return await self._unary(procedure, message, metadata, timeout)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise ResourceExhausted("HTTP_BODY_TOO_LARGE", limit=self.limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.limit:
                        raise ResourceExhausted("HTTP_BODY_TOO_LARGE", limit=self.limit)
                    chunks.append(chunk)
        except TimeoutError:
            raise Aborted("REQUEST_STALLED", seconds=BODY_READ_SECONDS) from None
        return b"".join(chunks)

    async def _unary(
        self,
        procedure: Procedure,
        message: Any,
        metadata: list[tuple[str, str]],
        deadline: float | None,
    ) -> Response:
        method = self.channel.unary_unary(procedure.path, None, None)
        try:
            raw = await method(message.SerializeToString(), metadata=metadata, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            status = ce.of_grpc(exc.code(), exc.details(), exc.trailing_metadata())
            return _error_response(status)
        answer = procedure.response.FromString(raw)
        return Response(_json(answer), media_type=UNARY_TYPE)

    def _stream(
        self,
        procedure: Procedure,
        message: Any,
        metadata: list[tuple[str, str]],
        timeout: float | None,
    ) -> Response:
        method = self.channel.unary_stream(procedure.path, None, None)
        call = method(message.SerializeToString(), metadata=metadata, timeout=timeout)

        async def envelopes() -> AsyncIterator[bytes]:
            end: dict[str, Any] = {}
            try:
                async for raw in call:
                    yield _envelope(0, _json(procedure.response.FromString(raw)))
            except grpc.aio.AioRpcError as exc:
                status = ce.of_grpc(exc.code(), exc.details(), exc.trailing_metadata())
                end = {"error": ce.error_body(status)}
            finally:
                call.cancel()  # a client gone: the server's stream ends at once
            yield _envelope(END_STREAM, json.dumps(end, ensure_ascii=False).encode())

        return StreamingResponse(envelopes(), media_type=STREAM_TYPE)


def _metadata(request: Request) -> list[tuple[str, str]]:
    """The headers the gRPC server reads, as its metadata (printable ASCII values only)."""
    found = []
    for key, value in request.headers.items():
        name = key.lower()
        wanted = name in FORWARDED or (name.startswith("x-aval-") and not name.endswith("-bin"))
        if wanted and value.isascii() and value.isprintable():
            found.append((name, value))
    return found


def _timeout(request: Request) -> float | None:
    given = request.headers.get("connect-timeout-ms")
    if given is None:
        return None
    if not given.isdigit() or len(given) > 10:
        violation = FieldViolation("connect-timeout-ms", "BAD_TIMEOUT", {"given": given})
        raise InvalidArgument([violation])
    return min(int(given) / 1000, MAX_TIMEOUT_SECONDS)


def _decode(procedure: Procedure, body: bytes) -> Any:
    """The request message of a body: proto3 JSON, enveloped for a server stream."""
    name = procedure.request.DESCRIPTOR.full_name
    if procedure.server_streaming:
        if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
            raise InvalidArgument([FieldViolation("body", "NOT_AN_ENVELOPE", {"message": name})])
        body = body[5:]
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        problem = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidArgument([FieldViolation("body", "NOT_JSON", {"problem": problem})]) from None
    if not isinstance(parsed, dict):
        violation = FieldViolation("body", "NOT_A_JSON_OBJECT", {"message": name})
        raise InvalidArgument([violation])
    message = procedure.request()
    try:
        json_format.ParseDict(parsed, message, max_recursion_depth=_PARSE_DEPTH)
    except (json_format.ParseError, RecursionError, OverflowError, ValueError) as exc:
        # ParseError, and what the parser lets through: a number beyond a double (OverflowError)
        problem = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        params = {"message": name, "problem": problem.split("\n")[0]}
        raise InvalidArgument([FieldViolation("body", "JSON_MISMATCH", params)]) from None
    return message


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:40]} is beyond the range of a double")
    return number


def _json(message: Any) -> bytes:
    shown = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return json.dumps(shown, ensure_ascii=False).encode("utf-8")


def _envelope(flags: int, payload: bytes) -> bytes:
    return bytes([flags]) + len(payload).to_bytes(4, "big") + payload


def _no_procedure(path: str) -> DomainError:
    return ce.Unimplemented("HTTP_NO_PROCEDURE", path=path)


def _error_response(
    status: status_pb2.Status, http: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        ce.encoded(status),
        status_code=http or ce.http_status(status),
        media_type=UNARY_TYPE,
        headers=headers,
    )


def _refusal(
    exc: DomainError,
    language: str,
    http: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if isinstance(exc, ResourceExhausted) and exc.reason == "HTTP_BODY_TOO_LARGE":
        http = http or 413
    return _error_response(ce.of_domain(exc, language), http, headers)


__all__ = ["Door", "Unauthenticated"]
