"""What both clients share: the channel's stubs, the caller's metadata, and how gRPC failures
become the SDK's typed errors."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import quote

import grpc
import grpc.aio

from aval.clients.sdk import calls as _calls
from aval.clients.sdk.calls import UnaryCall
from aval.clients.sdk.errors import UnavailableError, from_rpc_error
from aval.clients.sdk.limits import check_payloads
from aval.v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    common_pb2,
    gateway_pb2_grpc,
    journal_pb2_grpc,
    people_pb2_grpc,
    review_pb2_grpc,
)

_Metadata = tuple[tuple[str, str], ...]


PURPOSE_KEY = "x-aval-purpose"


def _metadata(token: str | None, language: str, purpose: str | None = None) -> _Metadata:
    # accept-language: the gateway words its refusals (LocalizedMessage) in this language.
    auth = (("authorization", f"Bearer {token}"),) if token else ()
    # x-aval-purpose: why the caller reads, for the access journal; gRPC metadata is ASCII, so
    # the text travels percent-encoded UTF-8 (the gateway checks and decodes it).
    why = ((PURPOSE_KEY, quote(purpose, safe="")),) if purpose else ()
    return (*auth, ("accept-language", language), *why)


@contextlib.contextmanager
def translated_errors(stream: Any = None) -> Iterator[None]:
    """Raises gRPC failures as typed errors; cancels ``stream``, if any, on the way out."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err
    finally:
        if stream is not None:
            stream.cancel()


def unfinished(decision: common_pb2.Decision | None, decision_id: str) -> UnavailableError:
    state = common_pb2.DecisionState.Name(decision.state) if decision else "nothing"
    return UnavailableError(
        f"the watch of decision {decision_id} ended before it was final (last seen: {state})",
        code=grpc.StatusCode.UNAVAILABLE,
    )


class Connection:
    """What both clients keep: the address, the deadline, the caller's metadata, the stubs."""

    def __init__(
        self,
        address: str,
        token: str | None,
        timeout: float,
        channel: grpc.Channel | grpc.aio.Channel,
        language: str,
        max_payload_bytes: int | None,
        purpose: str | None = None,
    ) -> None:
        self.address = address
        self._timeout = timeout
        self._max_payload_bytes = max_payload_bytes
        self._token, self._language = token, language
        self._metadata = _metadata(token, language, purpose)
        # Looked up by the service names of UnaryCall: the stubs of a blocking channel and of
        # an asyncio one have the same attributes.
        self._stubs: dict[str, Any] = {
            "gateway": gateway_pb2_grpc.GatewayStub(channel),
            "review": review_pb2_grpc.ReviewStub(channel),
            "audit": audit_pb2_grpc.AuditStub(channel),
            "admin": admin_pb2_grpc.AdminStub(channel),
            "journal": journal_pb2_grpc.AccessJournalStub(channel),
            "people": people_pb2_grpc.PeopleStub(channel),
        }

    def with_purpose(self, purpose: str | None) -> Self:
        """This client with another purpose for the calls made through it (the access
        journal's "why", at most 200 visible characters); ``None`` sends none.

        The copy shares this client's channel: close the original, not the copy.

        Example:
            >>> aval.with_purpose("contrôle interne n° 12").get_decision(id)  # doctest: +SKIP
        """
        other = copy.copy(self)
        other._metadata = _metadata(self._token, self._language, purpose)
        return other

    def as_caller(self, token: str, language: str | None = None) -> Self:
        """This client calling with another person's credentials (and language): what a
        console serving many people does, one channel for all. The copy shares this client's
        channel: close the original, not the copy."""
        other = copy.copy(self)
        other._token, other._language = token, language or self._language
        other._metadata = _metadata(token, other._language, None)
        return other

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
