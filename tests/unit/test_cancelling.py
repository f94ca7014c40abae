"""A periodic task stops when cancelled even if its work swallowed the cancellation (a database
call cancelled mid-query can absorb it): before the guard, stopping the checkpoint task hung
about one test run in twenty."""

from __future__ import annotations

import asyncio
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
