"""Errors the store raises; their docstrings say when."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class DecisionNotFound(StoreError):
    """No decision with that id in that tenant."""


class IdempotencyConflict(StoreError):
    """The idempotency key was already used by the tenant for a different request body."""


class ReviewAlreadyRecorded(StoreError):
    """The reviewer already gave a verdict on this decision (one verdict per reviewer)."""


class ConcurrentUpdate(StoreError):
    """The decision changed since it was read (optimistic version check failed)."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refused the connection."""
