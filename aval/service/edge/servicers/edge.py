"""The edge of every servicer method: domain and store errors become rich statuses (I6)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import psycopg

from aval.audit_store.errors import StoreError
from aval.service import telemetry
from aval.service.deployment import Deployment
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

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Context = grpc.aio.ServicerContext[Any, Any]


def caller(deployment: Deployment, context: Context) -> Principal:
    """Who is calling, from the call's metadata.

    Raises:
        Unauthenticated: no credentials, or credentials nobody holds.
    """
    metadata = context.invocation_metadata() or ()
    return deployment.authenticate([(str(key), value) for key, value in metadata])


def _refuse_nul(servicer: Any, request: Any, context: Context) -> None:
    """Refuses a request holding a NUL character anywhere, after authenticating its caller.

    Checked here, once for every method, so that no string reaches a use case or the database
    with one, whichever fields the method's request model reads (I6).

    Raises:
        Unauthenticated: no credentials, or credentials nobody holds.
        InvalidArgument: naming every field that holds a NUL.
    """
    found = nul_fields(request)
    if found:
        caller(servicer.deployment, context)
        raise InvalidArgument([FieldViolation(path, "NUL_CHARACTER") for path in found])


def unary(
    method: Callable[[Any, Req, Context], Awaitable[Resp]],
) -> Callable[[Any, Req, Context], Awaitable[Resp]]:
    """Maps domain and store errors of a unary method to rich statuses (I6)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: Context) -> Resp:
        token = telemetry.enter_call(context.invocation_metadata() or ())
        try:
            _refuse_nul(self, request, context)
            return await method(self, request, context)
        except DomainError as exc:
            await abort_with(context, exc)
        except StoreError as exc:
            await abort_with(context, from_store_error(exc))
        except psycopg.OperationalError:
            await abort_with(context, Unavailable("DATABASE_UNAVAILABLE"))
        finally:
            telemetry.leave_call(token)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return wrapper


def streaming(
    method: Callable[[Any, Req, Context], AsyncIterator[Resp]],
) -> Callable[[Any, Req, Context], AsyncIterator[Resp]]:
    """Maps domain and store errors of a server-streaming method to rich statuses (I6)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: Context) -> AsyncIterator[Resp]:
        token = telemetry.enter_call(context.invocation_metadata() or ())
        try:
            _refuse_nul(self, request, context)
            async for item in method(self, request, context):
                yield item
        except DomainError as exc:
            await abort_with(context, exc)
        except StoreError as exc:
            await abort_with(context, from_store_error(exc))
        except psycopg.OperationalError:
            await abort_with(context, Unavailable("DATABASE_UNAVAILABLE"))
        finally:
            telemetry.leave_call(token)

    return wrapper
