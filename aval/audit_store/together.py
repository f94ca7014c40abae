"""Running a few database queries at once, each on its own connection of one snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def all_of(*work: Coroutine[Any, Any, T]) -> list[T]:
    """The results of `work`, run at once, in order.

    Should one fail, the others are cancelled and waited for before its error is raised, so
    that no connection is handed back with a query still running on it (which `gather` would
    do: it returns at the first error and leaves the rest running). The error raised is that
    one's, not an ExceptionGroup: callers catch the store's errors by type (a database that
    went away is UNAVAILABLE, not UNKNOWN).
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one) for one in work]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        raise first.with_traceback(first.__traceback__) from None
    return [task.result() for task in tasks]
