"""Admission of every call before its body is read: the token, the body's size and decoding,
how many bodies are read at once, and server streams whose client stopped reading (I6)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError

from aval.service.errors import (
    Aborted,
    FieldViolation,
    InvalidArgument,
    Unauthenticated,
    abort_with,
)
from aval.service.identity import Credentials, Principal
from aval.service.requests import MAX_JSON_DEPTH
from aval.service.settings import Settings

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# What `context.read()` returns once the client has sent everything (absent from the stubs).
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]
Decode = Callable[[bytes], Any]
Authenticate = Callable[[Credentials], Awaitable[Principal]]

# Calls of these services need a token; the others (health, reflection) need none.
GUARDED_PREFIX = "/aval.v1."
# A JSON value of n bytes of canonical JSON takes at most 5.5 n bytes as a
# google.protobuf.Struct: a list of one-digit numbers, 2 bytes each in JSON ("0,"), 11 as a
# Value (tag and length, then the number as a tagged 8-byte double). 6 leaves room for tags.
STRUCT_EXPANSION = 6
# Everything else of the largest requests, with room to spare: Propose's explanation (20,000
# characters: 80,000 bytes of UTF-8 at most) and names (5 × 200 characters), Decide's
# justification (10,000 characters), QueryEvents' 200 tenants, RegisterModelVersion's
# instructions for use (about 80 KB at most).
FIXED_ROOM = 256 * 1024
# Calls that need no token (health checks, reflection) read their bodies a few at a time, each
# within a few seconds: their requests are tiny, and a peer without a token must not be able to
# hold memory or the slots of those who have one.
OPEN_SLOTS = 8
# The largest metadata (headers) a call may bring, in bytes: room for an 8 KiB token and more.
MAX_METADATA_BYTES = 16 * 1024
OPEN_READ_SECONDS = 5.0
# Who is calling, for the call admission let in: the servicers' edge reads it rather than
# authenticate the call a second time.
ADMITTED: ContextVar[Principal | None] = ContextVar("admitted", default=None)


def receive_limit(max_payload_bytes: int) -> int:
    """The largest request the server reads, in bytes (1 MiB for the default payload limit).

    The largest requests are Propose, with two JSON values (input and attested suggestion) of
    up to `max_payload_bytes` of canonical JSON each, and Decide, with one (amended output).
    """
    return 2 * STRUCT_EXPANSION * max_payload_bytes + FIXED_ROOM


def server_options(settings: Settings, *, share_port: bool) -> list[tuple[str, int]]:
    """The options of the gRPC server: port sharing, and how much a peer may send it."""
    return [
        ("grpc.so_reuseport", 1 if share_port else 0),
        ("grpc.max_receive_message_length", receive_limit(settings.max_payload_bytes)),
        # Without BDP probing, a stream may bring at most its 64 KiB window into the server
        # until its body is asked for, which only an admitted call does. With it, on a fast
        # link gRPC grew windows to megabytes a stream: 800 unauthenticated requests of 3.9 MB
        # took the server from 95 MB to 1.3 GB (tests/benchmarks/memory_flood.py).
        ("grpc.http2.bdp_probe", 0),
        # One limit on a call's metadata, not a range: between gRPC's soft (8 KiB) and hard
        # (16 KiB) limits it refuses calls at random, so an 8–16 KiB token got either our
        # TOKEN_TOO_LARGE or a bare transport error. Up to 16 KiB, Aval's own checks answer.
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
    ]


@functools.cache
def _request_type(method: str) -> str:
    """The full name of a method's request message ("/aval.v1.Gateway/Propose" ->
    "aval.v1.ProposeRequest"), or the method itself when the default pool does not know it."""
    try:
        found = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return method
    return str(found.input_type.full_name)


def _decode_reason(exc: DecodeError) -> str:
    # upb says what went wrong only in its message; the reasons the caller gets are ours.
    text = str(exc)
    if "MaxDepth" in text:
        return "NESTED_TOO_DEEP"
    if "UTF-8" in text:
        return "NOT_UTF8"
    return "UNDECODABLE"


def _decoder(deserializer: Callable[[bytes], Any] | None, method: str) -> Decode:
    """The handler's deserializer, raising InvalidArgument for bytes it cannot decode."""
    if deserializer is None:
        return lambda raw: raw
    parse = deserializer

    def decode(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError as exc:
            params = {"message": _request_type(method), "limit": MAX_JSON_DEPTH}
            violation = FieldViolation("request", _decode_reason(exc), params)
            raise InvalidArgument([violation]) from None

    return decode


def _is_async(behavior: Any) -> bool:
    return inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)


def _behavior(handler: Handler) -> Any:
    return (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )


def _clear_frames(exc: BaseException) -> None:
    """Clears the frames of `exc` and of the exceptions it was raised from or while handling
    (an abort raised in an `except` block holds the refusal it reports, and its frames)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


def credentials_of(context: Context) -> Credentials:
    """What the call presents: its metadata, and its TLS peer's verified certificate if any."""
    metadata = [(str(key), value) for key, value in context.invocation_metadata() or ()]
    certificate = next(iter(context.auth_context().get("x509_pem_cert") or ()), None)
    peer = certificate.decode("ascii", "replace") if certificate is not None else None
    return Credentials(metadata, peer)


def _handler(
    behavior: Callable[[object, Context], Awaitable[Any]],
    original: Handler,
    authenticate: Authenticate | None = None,
) -> Handler:
    """A handler of `behavior`, which reads its request itself (so gRPC reads nothing first),
    once `authenticate` (when given) has let the call in: its principal is the call's admitted
    caller. A call it refuses ends UNAUTHENTICATED, its body never read.

    The frames of an exception that ends `behavior` are cleared: gRPC keeps the exception of
    an aborted call, and so its traceback and the request in its frames, in a reference cycle
    that only the cyclic garbage collector frees, much later (tracemalloc showed the bodies of
    refused requests alive, a megabyte each, until the collector ran).
    """

    @functools.wraps(behavior)
    async def forgetting(requests: object, context: Context) -> Any:
        principal = None
        if authenticate is not None:
            try:
                principal = await authenticate(credentials_of(context))
            except Unauthenticated as exc:
                await abort_with(context, exc)
        admitted = ADMITTED.set(principal)
        try:
            return await behavior(requests, context)
        except BaseException as exc:
            _clear_frames(exc)
            raise
        finally:
            ADMITTED.reset(admitted)

    if original.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            forgetting, response_serializer=original.response_serializer
        )
    return grpc.stream_unary_rpc_method_handler(
        forgetting, response_serializer=original.response_serializer
    )


class _Gate:
    """Reads request bodies holding one of a few slots, and writes responses with a limit on
    how long a client may leave the next one untaken."""

    def __init__(self, slots: int, read_seconds: float | None, stall_seconds: float) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.read_seconds = read_seconds
        self.stall_seconds = stall_seconds

    async def _read(self, context: Context, decode: Decode) -> Any:
        """The next request message, decoded, or EOF. Ends the call on bytes that cannot be
        decoded (INVALID_ARGUMENT) and on a body that does not come in time (ABORTED)."""
        try:
            async with asyncio.timeout(self.read_seconds):
                raw = await context.read()
        except TimeoutError:
            await abort_with(context, Aborted("REQUEST_STALLED", seconds=self.read_seconds))
        if raw is EOF:
            return raw
        try:
            return decode(raw)
        except InvalidArgument as exc:
            await abort_with(context, exc)

    async def _one(self, context: Context, decode: Decode, method: str) -> Any:
        request = await self._read(context, decode)
        if request is EOF:
            # The client sent no request (or gRPC ended the call: a body over the limit).
            params = {"message": _request_type(method)}
            missing = FieldViolation("request", "NO_MESSAGE", params)
            await abort_with(context, InvalidArgument([missing]))
        return request

    async def _each(self, context: Context, decode: Decode) -> AsyncIterator[Any]:
        while True:
            async with self.slots:
                request = await self._read(context, decode)
            if request is EOF:
                return
            yield request

    async def _send(self, responses: Any, context: Context) -> None:
        """Writes what a streaming behavior produces; ends the call (ABORTED, STREAM_STALLED)
        when the client leaves a message untaken for `stall_seconds`, once the behavior is
        closed, so that what it holds (an export's database connection) is freed at once."""
        if inspect.iscoroutine(responses):  # the reader/writer API: it writes itself
            await responses
            return
        stalled = False
        try:
            async for response in responses:
                try:
                    async with asyncio.timeout(self.stall_seconds):
                        await context.write(response)
                except TimeoutError:
                    stalled = True
                    break
        finally:
            await responses.aclose()
        if stalled:
            # The status waits behind the untaken messages: the client reads it after them.
            await abort_with(context, Aborted("STREAM_STALLED", seconds=self.stall_seconds))

    def wrap(
        self, original: Handler, method: str, authenticate: Authenticate | None = None
    ) -> Handler:
        """`original`, reading its body under a slot and writing under the stall limit, once
        `authenticate` let the call in (None for calls that need no token)."""
        behavior = _behavior(original)
        if not _is_async(behavior):
            return original
        decode = _decoder(original.request_deserializer, method)
        if original.request_streaming:

            async def streaming_requests(requests: object, context: Context) -> Any:
                answer = behavior(self._each(context, decode), context)
                if original.response_streaming:
                    return await self._send(answer, context)
                return await answer

            return _handler(streaming_requests, original, authenticate)
        if original.response_streaming:

            async def unary_stream(requests: object, context: Context) -> None:
                # As for a unary call: a long-lived stream (a watch) keeps no slot.
                async with self.slots:
                    request = await self._one(context, decode, method)
                await self._send(behavior(request, context), context)

            return _handler(unary_stream, original, authenticate)

        async def unary_unary(requests: object, context: Context) -> Any:
            # The slot covers reading and decoding, where a flood costs memory; a call that
            # waits on the database or an AI system must not keep others from being read.
            async with self.slots:
                request = await self._one(context, decode, method)
            return await behavior(request, context)

        return _handler(unary_unary, original, authenticate)


class Admission(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Sees every call before its body is read.

    A call of Aval's services without a valid token is refused (UNAUTHENTICATED) and its body
    never read. An admitted call reads and decodes its body holding one of
    `max_concurrent_requests` slots (others wait, their bodies unread: HTTP/2 flow control keeps
    them with the client); bytes that cannot be decoded are INVALID_ARGUMENT with a reason. Its
    server stream, if any, is ended when its client stops taking messages. gRPC itself refuses
    a body over `receive_limit` (RESOURCE_EXHAUSTED). Calls of the services that need no token
    (health, reflection) read their bodies under slots of their own.
    """

    def __init__(self, authenticate: Authenticate, settings: Settings) -> None:
        self._authenticate = authenticate
        self._guarded = _Gate(settings.max_concurrent_requests, None, settings.stream_stall_seconds)
        self._open = _Gate(OPEN_SLOTS, OPEN_READ_SECONDS, settings.stream_stall_seconds)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler: Any = await continuation(details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED (the stubs forget None)
            return None  # type: ignore[return-value]
        method = details.method
        if not method.startswith(GUARDED_PREFIX):
            return self._open.wrap(handler, method)
        return self._guarded.wrap(handler, method, self._authenticate)
