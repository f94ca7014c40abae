"""Everything PostgreSQL: migrations, the store, the hash-chained trail and its verification."""

from aval.audit_store.database import ChangeListener, Store
from aval.audit_store.errors import (
    ConcurrentUpdate,
    DatabaseUnavailable,
    DecisionNotFound,
    ReviewAlreadyRecorded,
    StoreError,
)
from aval.audit_store.migrate import migrate

__all__ = [
    "ChangeListener",
    "ConcurrentUpdate",
    "DatabaseUnavailable",
    "DecisionNotFound",
    "ReviewAlreadyRecorded",
    "Store",
    "StoreError",
    "migrate",
]
