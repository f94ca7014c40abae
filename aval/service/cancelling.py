"""Stopping periodic tasks for sure, even when a library swallowed the cancellation.

A task cancelled in the middle of a database call can see the CancelledError turned into
another error, or absorbed, on its way up; its loop then goes on, and whoever awaits it at
shutdown waits for ever (seen: the checkpoint task, about one test run in twenty).

So a stop is asked twice over: `stop(task)` records that the task must stop, then cancels it
(again while it goes on); the loop calls `stop_if_asked()` after each round. The record, not
`Task.cancelling()`, is what the loop reads: a library that cancels its own task and catches
it without `uncancel()` leaves that count raised for good, and a loop reading it would end in
silence in the middle of the server's life (suspected once: webhooks no longer delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

# How long a cancelled task is given to end before it is cancelled again.
RETRY_SECONDS = 0.5

_STOPPING: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def stop_if_asked() -> None:
    """Raises CancelledError when `stop` was called on the current task, whatever its work
    caught since.

    Raises:
        asyncio.CancelledError: the task is being stopped.
    """
    task = asyncio.current_task()
    if task is not None and task in _STOPPING:
        raise asyncio.CancelledError


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Stops `task` and waits until it has ended: marks it as asked to stop, then cancels it,
    again every RETRY_SECONDS while it goes on. What it raised on its way out is dropped."""
    if task is None:
        return
    _STOPPING.add(task)
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RETRY_SECONDS)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
