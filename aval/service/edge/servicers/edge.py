"""The edge of every servicer, applied once per class: the call's trace continued, its caller
known, NUL characters refused, domain and store errors made rich statuses (I6)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import psycopg
from google.protobuf.message import Message

from aval.audit_store.errors import StoreError
from aval.service import telemetry
from aval.service.audit.access_journal import PURPOSE, purpose_of
from aval.service.deployment import Deployment
from aval.service.edge.admission import ADMITTED, credentials_of
from aval.service.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    Unavailable,
    abort_with,
    from_store_error,
)
from aval.service.identity import Principal
from aval.service.requests import nul_fields

S = TypeVar("S", bound=type)
Context = grpc.aio.ServicerContext[Any, Any]
Method = Callable[[Any, Any, Context], Any]


def caller() -> Principal:
    """Who is calling: the principal admission authenticated for this call (admission.py), or
    the edge when the call came without it."""
    principal = ADMITTED.get()
    assert principal is not None, "only a guarded servicer method has a caller"
    return principal


async def _enter(servicer: Any, request: Message, context: Context) -> None:
    """Makes the call's caller and purpose known, then refuses a request holding a NUL character
    anywhere.

    Checked here, once for every method, so that no string reaches a use case or the database
    with one, whichever fields the method's request model reads (I6).

    Raises:
        Unauthenticated: without admission, no credentials or credentials nobody holds.
        InvalidArgument: a purpose (x-aval-purpose) that is not printable text, or naming
            every field that holds a NUL.
    """
    if ADMITTED.get() is None:
        # Called without admission (which always runs in the server): set in this call's task
        # only, and left there, as a generator's cleanup may run in another context.
        deployment: Deployment = servicer.deployment
        ADMITTED.set(await deployment.authenticate(credentials_of(context)))
    # Why the caller reads, for the access journal (R13): checked before anything is read.
    PURPOSE.set(purpose_of(context.invocation_metadata() or ()))
    found = nul_fields(request)
    if found:
        raise InvalidArgument([FieldViolation(path, "NUL_CHARACTER") for path in found])


def _status(exc: DomainError | StoreError | psycopg.OperationalError) -> DomainError:
    """The domain error a refusal reports."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, StoreError):
        return from_store_error(exc)
    return Unavailable("DATABASE_UNAVAILABLE")


def _unary(method: Callable[[Any, Any, Context], Awaitable[Any]]) -> Method:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Message, context: Context) -> Any:
        trace = telemetry.enter_call(context.invocation_metadata() or ())
        try:
            await _enter(self, request, context)
            return await method(self, request, context)
        except (DomainError, StoreError, psycopg.OperationalError) as exc:
            await abort_with(context, _status(exc))
        finally:
            telemetry.leave_call(trace)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return wrapper


def _streaming(method: Callable[[Any, Any, Context], AsyncIterator[Any]]) -> Method:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Message, context: Context) -> AsyncIterator[Any]:
        trace = telemetry.enter_call(context.invocation_metadata() or ())
        try:
            await _enter(self, request, context)
            async for item in method(self, request, context):
                yield item
        except (DomainError, StoreError, psycopg.OperationalError) as exc:
            await abort_with(context, _status(exc))
        finally:
            telemetry.leave_call(trace)

    return wrapper


def guarded(servicer: S) -> S:
    """Puts every RPC method of `servicer` (those its generated base declares) behind the edge.

    Raises:
        TypeError: the class leaves an RPC method of its base unimplemented.
    """
    (base,) = servicer.__bases__
    for name in [name for name, value in vars(base).items() if inspect.isfunction(value)]:
        method = servicer.__dict__.get(name)
        if method is None:
            raise TypeError(f"{servicer.__name__}.{name} is not implemented")
        edge = _streaming if inspect.isasyncgenfunction(method) else _unary
        setattr(servicer, name, edge(method))
    return servicer
