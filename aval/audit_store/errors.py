"""Errors the store raises; their docstrings say when."""

from __future__ import annotations

import uuid


class StoreError(Exception):
    """Base of the store's errors."""


class DecisionNotFound(StoreError):
    """No decision with that id in that tenant."""

    def __init__(self, tenant_id: str, decision_id: uuid.UUID) -> None:
        super().__init__(f"no decision {decision_id} in tenant {tenant_id}")
        self.tenant_id, self.decision_id = tenant_id, decision_id


class ReviewAlreadyRecorded(StoreError):
    """The reviewer already gave a verdict on this decision (one verdict per reviewer)."""

    def __init__(self, reviewer_id: str, decision_id: uuid.UUID) -> None:
        super().__init__(f"{reviewer_id} already gave a verdict on decision {decision_id}")
        self.reviewer_id, self.decision_id = reviewer_id, decision_id


class ConcurrentUpdate(StoreError):
    """The decision changed since it was read (optimistic version check failed)."""

    def __init__(self, decision_id: uuid.UUID) -> None:
        super().__init__(f"decision {decision_id} changed while it was being updated")
        self.decision_id = decision_id


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refused the connection."""


class JournalUnavailable(StoreError):
    """The access journal could not record a read; the read is refused (fail closed, R13)."""


class ExportsBusy(StoreError):
    """Every connection of the export pool is in use (`limit` of them)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"all {limit} export connections are in use")
        self.limit = limit
