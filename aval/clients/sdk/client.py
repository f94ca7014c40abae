"""The Python SDK of the gateway: a blocking ``Client`` and an asyncio ``AsyncClient``.

Both expose the same methods, built once from the request builders of
:mod:`aval.clients.sdk.calls`; every refusal of the gateway is raised as a typed
:class:`~aval.clients.sdk.errors.AvalError`. Results are the messages of the ``aval.v1`` contract.

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
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar, Unpack

import grpc
import grpc.aio

from aval.clients.sdk import admin_calls as _admin_calls
from aval.clients.sdk import audit_calls as _audit_calls
from aval.clients.sdk import calls as _calls
from aval.clients.sdk import case_calls as _case_calls
from aval.clients.sdk import journal_calls as _journal_calls
from aval.clients.sdk import people_calls as _people_calls
from aval.clients.sdk import reviewer_calls as _reviewer_calls
from aval.clients.sdk import webhook_calls as _webhook_calls
from aval.clients.sdk.calls import UnaryCall, is_final
from aval.clients.sdk.connection import translated_errors, unfinished
from aval.clients.sdk.errors import InvalidArgumentError
from aval.clients.sdk.transport import Transport, plan_channel
from aval.v1 import (
    audit_pb2,
    common_pb2,
    review_pb2,
)

__all__ = ["AsyncClient", "Client", "is_final"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


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


class Client(_journal_calls.JournalStreams):
    """A blocking connection to the gateway; use it as a context manager, or ``close()`` it.

    Args:
        address: ``HOST:PORT`` of the gateway.
        token: Bearer token of the caller (service account or agent); none when ``None``.
        timeout: Deadline in seconds of each unary call (watching has none by default).
        channel_credentials: TLS credentials, made by the caller (else see ``transport``).
        max_payload_bytes: The gateway's payload limit (its ``AVAL_MAX_PAYLOAD_BYTES``), when
            known: a JSON value larger than that is refused here (``TOO_LARGE``), unsent.
        purpose: Why the caller reads, recorded by the access journal with every read made
            through this client (one call: ``with_purpose``); none when ``None``.
        **transport: ``tls``, ``ca_file``, ``client_cert_file``, ``client_key_file``,
            ``server_name``, ``allow_plaintext``: TLS by default beyond loopback, and never a
            token in clear there unless allowed (:func:`~aval.clients.sdk.transport.plan_channel`).
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
        purpose: str | None = None,
        **transport: Unpack[Transport],
    ) -> None:
        plan = plan_channel(address, token, channel_credentials=channel_credentials, **transport)
        self._channel = (
            grpc.secure_channel(address, plan.credentials, options=plan.options)
            if plan.credentials is not None
            else grpc.insecure_channel(address)
        )
        super().__init__(
            address, token, timeout, self._channel, language, max_payload_bytes, purpose
        )

    def _send(self, call: UnaryCall[_R]) -> _R:
        with translated_errors():
            return call.unwrap(self._start(call))

    propose = _blocking(_calls.propose)
    get_decision = _blocking(_calls.get_decision)
    list_queue = _blocking(_calls.list_queue)
    claim = _blocking(_calls.claim)
    release = _blocking(_calls.release)
    decide = _blocking(_calls.decide)
    get_case = _blocking(_case_calls.get_case)
    record_view = _blocking(_case_calls.record_view)
    query_events = _blocking(_audit_calls.query_events)
    explain_decision = _blocking(_audit_calls.explain_decision)
    get_stats = _blocking(_audit_calls.get_stats)
    verify_chain = _blocking(_audit_calls.verify_chain)
    prove_inclusion = _blocking(_audit_calls.prove_inclusion)
    prove_consistency = _blocking(_audit_calls.prove_consistency)
    create_checkpoint = _blocking(_audit_calls.create_checkpoint)
    list_checkpoints = _blocking(_audit_calls.list_checkpoints)
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
    list_webhook_deliveries = _blocking(_webhook_calls.list_webhook_deliveries)
    set_reviewer_qualification = _blocking(_reviewer_calls.set_reviewer_qualification)
    revoke_reviewer_qualification = _blocking(_reviewer_calls.revoke_reviewer_qualification)
    list_reviewer_qualifications = _blocking(_reviewer_calls.list_reviewer_qualifications)
    reload_configuration = _blocking(_reviewer_calls.reload_configuration)
    query_access_journal = _blocking(_journal_calls.query_access_journal)
    resolve_people = _blocking(_people_calls.resolve_people)
    whoami = _blocking(_people_calls.whoami)

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
        with translated_errors(stream):
            for response in stream:
                yield response.decision

    def verify_trail(
        self,
        *,
        tenant: str = "",
        since: datetime | None = None,
        strict: bool = False,
        timeout: float | None = None,
        witnesses: Sequence[str] = (),
        witness_quorum: int = 0,
    ) -> Generator[audit_pb2.VerifyTrailResponse, None, None]:
        """Verifies a tenant's trail, yielding progress while it runs and the report last.

        Args:
            tenant: The caller's tenant when empty.
            since: Report problems only for events from this time on.
            strict: Fail when some events are covered by no signed checkpoint yet.
            timeout: Deadline in seconds of the whole verification; none when ``None``.
            witnesses: Verifier key strings of trusted witnesses (the witness policy).
            witness_quorum: How many of them must have cosigned the latest checkpoint.

        Yields:
            Updates: ``progress`` (events checked of the total), then ``report``.

        Raises:
            AvalError: The gateway refused the call or the stream broke.
        """
        request = _audit_calls.verify_trail_request(
            tenant=tenant,
            since=since,
            strict=strict,
            witnesses=witnesses,
            witness_quorum=witness_quorum,
        )
        stream = self._start_stream("audit", "VerifyTrail", request, timeout)
        with translated_errors(stream):
            yield from stream

    def export_events(
        self,
        *,
        format: _audit_calls.ExportFormatName = "jsonl",
        timeout: float | None = None,
        **filters: Any,
    ) -> Generator[audit_pb2.ExportEventsResponse, None, None]:
        """Streams the events a query selects, as JSON Lines or CSV, for large ranges.

        Args:
            format: ``"jsonl"`` (one JSON object per event) or ``"csv"`` (header line first).
            timeout: Deadline in seconds of the whole export; none when ``None``.
            **filters: The filters of :meth:`query_events`, e.g. ``tenants=["ville-a"]``,
                ``since=...``, ``verdict="reject"`` (no ``page_size`` or ``page_token``),
                and ``inclusion_proofs=True`` with ``proof_tree_size=N`` for each event's
                inclusion proof (see ``audit_calls.export_request``).

        Yields:
            Chunks of whole lines (``chunk``), each with the events sent so far (``events``).

        Raises:
            AvalError: The gateway refused the call or the stream broke.
        """
        request = _audit_calls.export_request(format=format, **filters)
        stream = self._start_stream("audit", "ExportEvents", request, timeout)
        with translated_errors(stream):
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
        raise unfinished(last, decision_id)

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


class AsyncClient(_journal_calls.AsyncJournalStreams):
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
        purpose: str | None = None,
        **transport: Unpack[Transport],
    ) -> None:
        plan = plan_channel(address, token, channel_credentials=channel_credentials, **transport)
        self._channel = (
            grpc.aio.secure_channel(address, plan.credentials, options=plan.options)
            if plan.credentials is not None
            else grpc.aio.insecure_channel(address)
        )
        super().__init__(
            address, token, timeout, self._channel, language, max_payload_bytes, purpose
        )

    async def _send(self, call: UnaryCall[_R]) -> _R:
        with translated_errors():
            return call.unwrap(await self._start(call))

    propose = _asynchronous(_calls.propose)
    get_decision = _asynchronous(_calls.get_decision)
    list_queue = _asynchronous(_calls.list_queue)
    claim = _asynchronous(_calls.claim)
    release = _asynchronous(_calls.release)
    decide = _asynchronous(_calls.decide)
    get_case = _asynchronous(_case_calls.get_case)
    record_view = _asynchronous(_case_calls.record_view)
    query_events = _asynchronous(_audit_calls.query_events)
    explain_decision = _asynchronous(_audit_calls.explain_decision)
    get_stats = _asynchronous(_audit_calls.get_stats)
    verify_chain = _asynchronous(_audit_calls.verify_chain)
    prove_inclusion = _asynchronous(_audit_calls.prove_inclusion)
    prove_consistency = _asynchronous(_audit_calls.prove_consistency)
    create_checkpoint = _asynchronous(_audit_calls.create_checkpoint)
    list_checkpoints = _asynchronous(_audit_calls.list_checkpoints)
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
    list_webhook_deliveries = _asynchronous(_webhook_calls.list_webhook_deliveries)
    set_reviewer_qualification = _asynchronous(_reviewer_calls.set_reviewer_qualification)
    revoke_reviewer_qualification = _asynchronous(_reviewer_calls.revoke_reviewer_qualification)
    list_reviewer_qualifications = _asynchronous(_reviewer_calls.list_reviewer_qualifications)
    reload_configuration = _asynchronous(_reviewer_calls.reload_configuration)
    query_access_journal = _asynchronous(_journal_calls.query_access_journal)
    resolve_people = _asynchronous(_people_calls.resolve_people)
    whoami = _asynchronous(_people_calls.whoami)

    async def send(self, call: UnaryCall[_R]) -> _R:
        """Sends a prepared call (any unary RPC of the contract, e.g. one the SDK has no
        method for yet) and returns what its `unwrap` takes out of the response.

        Raises:
            AvalError: the gateway refused the call (typed as for every method).
        """
        return await self._send(call)

    async def watch_decision(
        self, decision_id: str, *, tenant: str = "", language: str = "fr"
    ) -> AsyncGenerator[common_pb2.Decision, None]:
        """Yields the decision now and after every change; see :meth:`Client.watch_decision`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        stream = self._start_watch(decision_id, tenant, language, None)
        with translated_errors(stream):
            async for response in stream:
                yield response.decision

    async def watch_queue(
        self, *, tenant: str = ""
    ) -> AsyncGenerator[review_pb2.WatchQueueResponse, None]:
        """Yields each change of the tenant's queue (new proposals, claims, releases,
        verdicts, expiries) as it happens, until the caller stops reading or the gateway ends
        the stream. Carries identifiers, not cases.

        Raises:
            AvalError: the gateway refused the watch (e.g. RESOURCE_EXHAUSTED when too many
                watchers are open).
        """
        request = review_pb2.WatchQueueRequest(tenant=tenant)
        stream = self._start_stream("review", "WatchQueue", request, None)
        with translated_errors(stream):
            async for change in stream:
                yield change

    async def verify_trail(
        self, *, tenant: str = "", since: datetime | None = None, strict: bool = False
    ) -> AsyncGenerator[audit_pb2.VerifyTrailResponse, None]:
        """Verifies a tenant's trail, yielding progress then the report; see
        :meth:`Client.verify_trail`."""
        request = _audit_calls.verify_trail_request(tenant=tenant, since=since, strict=strict)
        stream = self._start_stream("audit", "VerifyTrail", request, None)
        with translated_errors(stream):
            async for update in stream:
                yield update

    async def export_events(
        self, *, format: _audit_calls.ExportFormatName = "jsonl", **filters: Any
    ) -> AsyncGenerator[audit_pb2.ExportEventsResponse, None]:
        """Streams the events a query selects; see :meth:`Client.export_events`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        request = _audit_calls.export_request(format=format, **filters)
        stream = self._start_stream("audit", "ExportEvents", request, None)
        with translated_errors(stream):
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
        raise unfinished(last, decision_id)

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
