"""Periodic tasks stop when they are told to, even when a library swallowed the cancellation.

A task cancelled in the middle of a database call can see the CancelledError turned into
another error, or absorbed, on its way up; the task stays "cancelling" (Python 3.11) but its
loop goes on, and whoever awaits it at shutdown waits for ever (seen: the checkpoint task,
about one test run in twenty).
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raises CancelledError when the current task was asked to stop, whatever it caught since.

    Raises:
        asyncio.CancelledError: the task is being cancelled.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
