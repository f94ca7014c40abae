"""The hidden reviewer's unit probes of issue 10: what the e2e probes found, pinned down."""

from __future__ import annotations

import asyncio
import traceback
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from aval.audit_store.group_commit import ProposalWriter


class _Refusing(ProposalWriter):
    """A writer whose database refuses the decisions listed in `bad`."""

    def __init__(self, bad: set[uuid.UUID]) -> None:
        super().__init__(store=None)  # type: ignore[arg-type]
        self.bad = bad

    async def _commit(self, batch: list[Any]) -> set[uuid.UUID]:
        await asyncio.sleep(0)
        if any(p.decision.id in self.bad for p in batch):
            raise ValueError("value is out of range for type bigint")
        return {p.decision.id for p in batch}


def _decision() -> Any:
    return SimpleNamespace(id=uuid.uuid4())


def test_a_refused_proposal_leaves_the_writer_alive_even_when_its_frames_are_cleared() -> None:
    """The edge clears the frames of every exception a call ends with (service/admission.py);
    the exception a refused proposal hands its caller must hold none of the writer's frames,
    or clearing them ends the one task that writes every proposal, and every later proposal
    waits forever."""

    async def scenario() -> None:
        bad = _decision()
        writer = _Refusing({bad.id})
        writer.start()
        try:
            with pytest.raises(ValueError) as caught:
                await writer.write(bad, [])
            error: BaseException | None = caught.value
            while error is not None:  # as admission._clear_frames does
                traceback.clear_frames(error.__traceback__)
                error = error.__cause__ or error.__context__
            for _ in range(3):
                assert await asyncio.wait_for(writer.write(_decision(), []), 5) is True
        finally:
            await writer.stop()

    asyncio.run(scenario())
