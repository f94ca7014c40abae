"""The Python SDK of the gateway: a blocking ``Client`` and an asyncio ``AsyncClient``.

Both expose the same methods, built once from the request builders of
:mod:`aval.clients._calls`; every refusal of the gateway is raised as a typed
:class:`~aval.clients.errors.AvalError`. Results are the messages of the ``aval.v1`` contract.

Example:
    >>> with Client("127.0.0.1:50051", token) as aval:  # doctest: +SKIP
    ...     decision = aval.propose(decision_type="orientation_courrier", subject_ref="dossier-42",
    ...                             input={"objet": "nid-de-poule"},
    ...                             suggestion={"service": "voirie"}).decision
    ...     final = aval.wait_for_outcome(decision.id)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import grpc
import grpc.aio

from aval.clients import _admin_calls, _calls
from aval.clients._calls import UnaryCall, is_final
from aval.clients.errors import InvalidArgumentError, UnavailableError, from_rpc_error
from aval.clients.limits import check_payloads
from aval.v1 import (
    admin_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    gateway_pb2_grpc,
    review_pb2_grpc,
)

__all__ = ["AsyncClient", "Client", "is_final"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Metadata = tuple[tuple[str, str], ...]


def _metadata(token: str | None, language: str) -> _Metadata:
    # accept-language: the gateway words its refusals (LocalizedMessage) in this language.
    auth = (("authorization", f"Bearer {token}"),) if token else ()
    return (*auth, ("accept-language", language))


@contextlib.contextmanager
def _translated_errors(stream: Any = None) -> Iterator[None]:
    """Raises gRPC failures as typed errors; cancels ``stream``, if any, on the way out."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err
    finally:
        if stream is not None:
            stream.cancel()


def _unfinished(decision: common_pb2.Decision | None, decision_id: str) -> UnavailableError:
    state = common_pb2.DecisionState.Name(decision.state) if decision else "nothing"
    return UnavailableError(
        f"the watch of decision {decision_id} ended before it was final (last seen: {state})",
        code=grpc.StatusCode.UNAVAILABLE,
    )


class _Connection:
    """What both clients keep: the address, the deadline, the caller's metadata, the stubs."""

    def __init__(
        self,
        address: str,
        token: str | None,
        timeout: float,
        channel: grpc.Channel | grpc.aio.Channel,
        language: str,
        max_payload_bytes: int | None,
    ) -> None:
        self.address = address
        self._timeout = timeout
        self._max_payload_bytes = max_payload_bytes
        self._metadata = _metadata(token, language)
        # Looked up by the service names of UnaryCall: the stubs of a blocking channel and of
        # an asyncio one have the same attributes.
        self._stubs: dict[str, Any] = {
            "gateway": gateway_pb2_grpc.GatewayStub(channel),
            "review": review_pb2_grpc.ReviewStub(channel),
            "audit": audit_pb2_grpc.AuditStub(channel),
            "admin": admin_pb2_grpc.AdminStub(channel),
        }

    def _start(self, call: UnaryCall[Any]) -> Any:
        if self._max_payload_bytes is not None:
            check_payloads(call.request, self._max_payload_bytes)
        rpc = getattr(self._stubs[call.service], call.method)
        return rpc(call.request, timeout=self._timeout, metadata=self._metadata)

    def _start_stream(self, service: str, method: str, request: Any, timeout: float | None) -> Any:
        rpc = getattr(self._stubs[service], method)
        return rpc(request, timeout=timeout, metadata=self._metadata)

    def _start_watch(
        self, decision_id: str, tenant: str, language: str, timeout: float | None
    ) -> Any:
        request = _calls.watch_request(decision_id, tenant=tenant, language=language)
        return self._stubs["gateway"].WatchDecision(
            request, timeout=timeout, metadata=self._metadata
        )


def _built(
    build: Callable[_P, UnaryCall[_R]], *args: _P.args, **kwargs: _P.kwargs
) -> UnaryCall[_R]:
    """The call `build` makes; text no UTF-8 holds (an unpaired surrogate) is refused here,
    as the gateway would, rather than escaping as protobuf's UnicodeEncodeError."""
    try:
        return build(*args, **kwargs)
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            "invalid request: a string is not valid UTF-8 text (an unpaired surrogate)"
        ) from None


def _blocking(
    build: Callable[_P, UnaryCall[_R]],
) -> Callable[Concatenate[Client, _P], _R]:
    @functools.wraps(build)
    def method(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._send(_built(build, *args, **kwargs))

    return method


def _asynchronous(
    build: Callable[_P, UnaryCall[_R]],
) -> Callable[Concatenate[AsyncClient, _P], Coroutine[Any, Any, _R]]:
    @functools.wraps(build)
    async def method(self: AsyncClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return await self._send(_built(build, *args, **kwargs))

    return method


class Client(_Connection):
    """A blocking connection to the gateway; use it as a context manager, or ``close()`` it.

    Args:
        address: ``HOST:PORT`` of the gateway.
        token: Bearer token of the caller (service account or agent); none when ``None``.
        timeout: Deadline in seconds of each unary call (watching has none by default).
        channel_credentials: TLS credentials; a plaintext channel when ``None``.
        max_payload_bytes: The gateway's payload limit (its ``AVAL_MAX_PAYLOAD_BYTES``), when
            known: a JSON value larger than that is refused here (``TOO_LARGE``), unsent.
    """

    def __init__(
        self,
        address: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        channel_credentials: grpc.ChannelCredentials | None = None,
        language: str = "fr",
        max_payload_bytes: int | None = None,
    ) -> None:
        self._channel = (
            grpc.secure_channel(address, channel_credentials)
            if channel_credentials is not None
            else grpc.insecure_channel(address)
        )
        super().__init__(address, token, timeout, self._channel, language, max_payload_bytes)

    def _send(self, call: UnaryCall[_R]) -> _R:
        with _translated_errors():
            return call.unwrap(self._start(call))

    propose = _blocking(_calls.propose)
    get_decision = _blocking(_calls.get_decision)
    list_queue = _blocking(_calls.list_queue)
    claim = _blocking(_calls.claim)
    decide = _blocking(_calls.decide)
    query_events = _blocking(_calls.query_events)
    explain_decision = _blocking(_calls.explain_decision)
    get_stats = _blocking(_calls.get_stats)
    verify_chain = _blocking(_calls.verify_chain)
    prove_inclusion = _blocking(_calls.prove_inclusion)
    prove_consistency = _blocking(_calls.prove_consistency)
    create_checkpoint = _blocking(_calls.create_checkpoint)
    list_checkpoints = _blocking(_calls.list_checkpoints)
    register_ai_system = _blocking(_admin_calls.register_ai_system)
    list_ai_systems = _blocking(_admin_calls.list_ai_systems)
    register_model_version = _blocking(_admin_calls.register_model_version)
    request_pin = _blocking(_admin_calls.request_pin)
    decide_pin = _blocking(_admin_calls.decide_pin)
    list_pin_requests = _blocking(_admin_calls.list_pin_requests)
    set_shadow = _blocking(_admin_calls.set_shadow)
    stop_ai = _blocking(_admin_calls.stop_ai)
    resume_ai = _blocking(_admin_calls.resume_ai)
    list_stops = _blocking(_admin_calls.list_stops)
    evaluate = _blocking(_admin_calls.evaluate)
    get_usage = _blocking(_admin_calls.get_usage)

    def watch_decision(
        self,
        decision_id: str,
        *,
        tenant: str = "",
        language: str = "fr",
        timeout: float | None = None,
    ) -> Generator[common_pb2.Decision, None, None]:
        """Yields the decision now and after every change, until it is final.

        Args:
            decision_id: The decision's id.
            tenant: The caller's tenant when empty.
            language: Language of the notice, ``"fr"`` or ``"en"``.
            timeout: Deadline in seconds of the whole watch; none when ``None``.

        Yields:
            Each version of the decision, the final one last.

        Raises:
            AvalError: The gateway refused the call or the stream broke.
        """
        stream = self._start_watch(decision_id, tenant, language, timeout)
        with _translated_errors(stream):
            for response in stream:
                yield response.decision

    def verify_trail(
        self, *, tenant: str = "", since: datetime | None = None, timeout: float | None = None
    ) -> Generator[audit_pb2.VerifyTrailResponse, None, None]:
        """Verifies a tenant's trail, yielding progress while it runs and the report last.

        Args:
            tenant: The caller's tenant when empty.
            since: Report problems only for events from this time on.
            timeout: Deadline in seconds of the whole verification; none when ``None``.

        Yields:
            Updates: ``progress`` (events checked of the total), then ``report``.

        Raises:
            AvalError: The gateway refused the call or the stream broke.
        """
        request = _calls.verify_trail_request(tenant=tenant, since=since)
        stream = self._start_stream("audit", "VerifyTrail", request, timeout)
        with _translated_errors(stream):
            yield from stream

    def export_events(
        self,
        *,
        format: _calls.ExportFormatName = "jsonl",
        timeout: float | None = None,
        **filters: Any,
    ) -> Generator[audit_pb2.ExportEventsResponse, None, None]:
        """Streams the events a query selects, as JSON Lines or CSV, for large ranges.

        Args:
            format: ``"jsonl"`` (one JSON object per event) or ``"csv"`` (header line first).
            timeout: Deadline in seconds of the whole export; none when ``None``.
            **filters: The filters of :meth:`query_events`, e.g. ``tenants=["ville-a"]``,
                ``since=...``, ``verdict="reject"`` (no ``page_size`` or ``page_token``).

        Yields:
            Chunks of whole lines (``chunk``), each with the events sent so far (``events``).

        Raises:
            AvalError: The gateway refused the call or the stream broke.
        """
        request = _calls.export_request(format=format, **filters)
        stream = self._start_stream("audit", "ExportEvents", request, timeout)
        with _translated_errors(stream):
            yield from stream

    def wait_for_outcome(
        self,
        decision_id: str,
        *,
        tenant: str = "",
        language: str = "fr",
        timeout: float | None = None,
    ) -> common_pb2.Decision:
        """Blocks until the decision is final and returns it.

        Args:
            decision_id: The decision's id.
            tenant: The caller's tenant when empty.
            language: Language of the notice, ``"fr"`` or ``"en"``.
            timeout: How long to wait in seconds; forever when ``None``.

        Returns:
            The final decision: its state says whether it takes effect.

        Raises:
            DeadlineExceededError: ``timeout`` passed first.
            UnavailableError: The stream ended before the decision was final.
            AvalError: Any other refusal of the gateway.
        """
        watch = self.watch_decision(decision_id, tenant=tenant, language=language, timeout=timeout)
        last: common_pb2.Decision | None = None
        with contextlib.closing(watch):
            for last in watch:
                if is_final(last):
                    return last
        raise _unfinished(last, decision_id)

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Connection):
    """The asyncio twin of :class:`Client`: same arguments, same methods, awaited.

    Create it inside the event loop that uses it, and use it as an async context manager or
    ``await close()`` it.
    """

    def __init__(
        self,
        address: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        channel_credentials: grpc.ChannelCredentials | None = None,
        language: str = "fr",
        max_payload_bytes: int | None = None,
    ) -> None:
        self._channel = (
            grpc.aio.secure_channel(address, channel_credentials)
            if channel_credentials is not None
            else grpc.aio.insecure_channel(address)
        )
        super().__init__(address, token, timeout, self._channel, language, max_payload_bytes)

    async def _send(self, call: UnaryCall[_R]) -> _R:
        with _translated_errors():
            return call.unwrap(await self._start(call))

    propose = _asynchronous(_calls.propose)
    get_decision = _asynchronous(_calls.get_decision)
    list_queue = _asynchronous(_calls.list_queue)
    claim = _asynchronous(_calls.claim)
    decide = _asynchronous(_calls.decide)
    query_events = _asynchronous(_calls.query_events)
    explain_decision = _asynchronous(_calls.explain_decision)
    get_stats = _asynchronous(_calls.get_stats)
    verify_chain = _asynchronous(_calls.verify_chain)
    prove_inclusion = _asynchronous(_calls.prove_inclusion)
    prove_consistency = _asynchronous(_calls.prove_consistency)
    create_checkpoint = _asynchronous(_calls.create_checkpoint)
    list_checkpoints = _asynchronous(_calls.list_checkpoints)
    register_ai_system = _asynchronous(_admin_calls.register_ai_system)
    list_ai_systems = _asynchronous(_admin_calls.list_ai_systems)
    register_model_version = _asynchronous(_admin_calls.register_model_version)
    request_pin = _asynchronous(_admin_calls.request_pin)
    decide_pin = _asynchronous(_admin_calls.decide_pin)
    list_pin_requests = _asynchronous(_admin_calls.list_pin_requests)
    set_shadow = _asynchronous(_admin_calls.set_shadow)
    stop_ai = _asynchronous(_admin_calls.stop_ai)
    resume_ai = _asynchronous(_admin_calls.resume_ai)
    list_stops = _asynchronous(_admin_calls.list_stops)
    evaluate = _asynchronous(_admin_calls.evaluate)
    get_usage = _asynchronous(_admin_calls.get_usage)

    async def watch_decision(
        self, decision_id: str, *, tenant: str = "", language: str = "fr"
    ) -> AsyncGenerator[common_pb2.Decision, None]:
        """Yields the decision now and after every change; see :meth:`Client.watch_decision`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        stream = self._start_watch(decision_id, tenant, language, None)
        with _translated_errors(stream):
            async for response in stream:
                yield response.decision

    async def verify_trail(
        self, *, tenant: str = "", since: datetime | None = None
    ) -> AsyncGenerator[audit_pb2.VerifyTrailResponse, None]:
        """Verifies a tenant's trail, yielding progress then the report; see
        :meth:`Client.verify_trail`."""
        request = _calls.verify_trail_request(tenant=tenant, since=since)
        stream = self._start_stream("audit", "VerifyTrail", request, None)
        with _translated_errors(stream):
            async for update in stream:
                yield update

    async def export_events(
        self, *, format: _calls.ExportFormatName = "jsonl", **filters: Any
    ) -> AsyncGenerator[audit_pb2.ExportEventsResponse, None]:
        """Streams the events a query selects; see :meth:`Client.export_events`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        request = _calls.export_request(format=format, **filters)
        stream = self._start_stream("audit", "ExportEvents", request, None)
        with _translated_errors(stream):
            async for chunk in stream:
                yield chunk

    async def wait_for_outcome(
        self, decision_id: str, *, tenant: str = "", language: str = "fr"
    ) -> common_pb2.Decision:
        """Waits until the decision is final; see :meth:`Client.wait_for_outcome`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        last: common_pb2.Decision | None = None
        async with contextlib.aclosing(
            self.watch_decision(decision_id, tenant=tenant, language=language)
        ) as watch:
            async for last in watch:
                if is_final(last):
                    return last
        raise _unfinished(last, decision_id)

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
