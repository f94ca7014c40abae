"""Everything PostgreSQL: migrations, the store, the hash-chained trail and its verification."""

from .database import ChangeListener, Store
from .errors import (
    ConcurrentUpdate,
    DatabaseUnavailable,
    DecisionNotFound,
    ReviewAlreadyRecorded,
    StoreError,
)
from .migrate import migrate

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
