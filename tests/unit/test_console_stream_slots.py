"""A session's live-queue streams are capped, and a slot comes back when its stream ends or
when its body is dropped unread (a browser gone before the first byte)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aval.console.pages.queue_stream import StreamSlots


async def _body() -> AsyncIterator[bytes]:
    yield b""


def test_a_session_holds_at_most_the_limit_and_gets_slots_back() -> None:
    slots = StreamSlots(limit=2)
    first, second = slots.take(1), slots.take(1)
    assert first is not None and second is not None
    assert slots.take(1) is None
    assert slots.take(2) is not None  # another session is not affected
    slots.give_back(1, first)
    slots.give_back(1, first)  # idempotent
    assert slots.take(1) is not None
    assert slots.take(1) is None


def test_a_body_dropped_unread_gives_its_slot_back() -> None:
    slots = StreamSlots(limit=1)
    token = slots.take(7)
    assert token is not None
    body = _body()
    slots.hold(7, token, body)
    assert slots.take(7) is None
    del body
    gc.collect()
    assert slots.take(7) is not None
