"""The queue's live stream for a browser: the gateway's WatchQueue as server-sent events.

Each change of the tenant's queue becomes an `event: queue` (its data: the decision id, the
change and the version, no case content); a comment line every HEARTBEAT_SECONDS keeps proxies
from closing an idle stream and finds a browser that went away. The stream ends when the
browser goes, when the person's session ends or expires, or when the gateway ends the watch; a
session may hold only a few streams at once (tabs), so that one person cannot use up the
gateway's watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import AvalError

HEARTBEAT_SECONDS = 15.0
# How often an idle stream checks that its session still lives.
SESSION_CHECK_SECONDS = 5.0
# Open streams per session (browser tabs on the queue).
MAX_STREAMS_PER_SESSION = 3


class StreamSlots:
    """The open streams of each session (keyed by the session's object identity). A slot is
    given back when its stream ends, or when its body is dropped without ever being read (a
    browser gone before the first byte): see `hold`."""

    def __init__(self, limit: int = MAX_STREAMS_PER_SESSION) -> None:
        self.limit = limit
        self._open: dict[int, set[object]] = {}

    def take(self, key: int) -> object | None:
        """A token for a new stream of `key`, or None when it holds `limit` already."""
        held = self._open.setdefault(key, set())
        if len(held) >= self.limit:
            return None
        token = object()
        held.add(token)
        return token

    def give_back(self, key: int, token: object) -> None:
        """Idempotent: the stream's end and the body's collection may both call it."""
        held = self._open.get(key)
        if held is not None:
            held.discard(token)
            if not held:
                del self._open[key]

    def hold(self, key: int, token: object, body: object) -> None:
        """Gives the slot back when `body` is garbage-collected, read or not."""
        weakref.finalize(body, self.give_back, key, token)


def _event(change: Any) -> bytes:
    data = {"decision_id": change.decision_id, "change": change.change, "version": change.version}
    return f"event: queue\ndata: {json.dumps(data)}\n\n".encode()


async def events(
    client: AsyncClient,
    alive: Callable[[], bool],
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    check: float = SESSION_CHECK_SECONDS,
) -> AsyncIterator[bytes]:
    """The bytes of the event stream, until the session ends (`alive()` false) or the
    gateway's watch ends. The browser going away ends it too: the server stops iterating."""
    changes: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

    async def follow() -> None:
        try:
            async for change in client.watch_queue():
                await changes.put(change)
        except AvalError:
            pass
        finally:
            await changes.put(None)

    reader = asyncio.create_task(follow())
    try:
        # Tells the browser to wait 5 s before reconnecting after the stream ends.
        yield b"retry: 5000\n: open\n\n"
        quiet = 0.0
        while alive():
            try:
                change = await asyncio.wait_for(changes.get(), check)
            except TimeoutError:
                quiet += check
                if quiet >= heartbeat:
                    quiet = 0.0
                    yield b": heartbeat\n\n"
                continue
            if change is None:
                return
            yield _event(change)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
