"""The Python SDK of the Aval gateway (``Client``, ``AsyncClient``) and its typed errors."""

from aval.clients.errors import (
    AbortedError,
    AlreadyExistsError,
    AvalError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    from_rpc_error,
)
from aval.clients.sdk import AsyncClient, Client, is_final

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AsyncClient",
    "AvalError",
    "Client",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "from_rpc_error",
    "is_final",
]
