"""A periodic task stops when cancelled even if its work swallowed the cancellation (a database
call cancelled mid-query can absorb it): before the guard, stopping the checkpoint task hung
about one test run in twenty."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from aval.service.audit import checkpointing


async def _swallowing(*_: Any) -> int:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        return 0  # what a library did on the way up
    return 0


async def test_the_checkpoint_loop_stops_though_its_work_swallowed_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checkpointing, "checkpoint_due_tenants", _swallowing)
    task = asyncio.create_task(checkpointing.run_checkpoints(object(), 0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)  # inside the work by now
    async with asyncio.timeout(5):
        await checkpointing.stop_periodic(task)
    assert task.cancelled()


async def test_a_cancel_caught_inside_the_work_does_not_end_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A library that cancels its own task and catches it without `uncancel()` leaves the
    task's cancel count raised: the loop must go on working, not end in silence."""
    rounds: list[int] = []

    async def leaking(*_: Any) -> int:
        rounds.append(1)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # caught, never uncancelled
            await asyncio.sleep(1)
        return 0

    monkeypatch.setattr(checkpointing, "checkpoint_due_tenants", leaking)
    task = asyncio.create_task(checkpointing.run_checkpoints(object(), 0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    assert not task.done()
    assert len(rounds) >= 3
    async with asyncio.timeout(5):
        await checkpointing.stop_periodic(task)
    assert task.done()
