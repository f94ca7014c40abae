"""Console sessions, held on the server: the browser keeps only a random id in a cookie.

A session ends on sign-out (removed here, whatever the browser keeps), after `idle_seconds`
without a request, after `max_seconds` in all, and when the person's access token can no longer
be refreshed. Sessions live in the console's process: a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# More open sessions than this and the oldest idle ones go first.
MAX_SESSIONS = 10_000


def _digest(session_id: str) -> str:
    # Stored by digest: a dump of the process's memory does not hand out live cookies as is.
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class Session:
    principal_id: str
    tenant: str
    roles: frozenset[str]
    display_name: str
    # The gateway credentials the console calls with, as the person.
    token: str
    created: float
    last_seen: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    language: str = "fr"
    # OpenID Connect only: when the access token stops working, and how to get another.
    token_expires: float | None = None
    refresh_token: str | None = None
    sign_in: str = "demo"

    def csrf_matches(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf, offered or "")

    @property
    def is_supervisor(self) -> bool:
        return "supervisor" in self.roles

    @property
    def is_inspector(self) -> bool:
        return "inspector" in self.roles


class SessionStore:
    def __init__(
        self, idle_seconds: int, max_seconds: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds, self.max_seconds, self._clock = idle_seconds, max_seconds, clock
        self._sessions: dict[str, Session] = {}

    def create(self, **fields: object) -> tuple[str, Session]:
        """A new session; returns the id for the cookie (shown once) and the session."""
        now = self._clock()
        self._sweep(now)
        session_id = secrets.token_urlsafe(32)
        session = Session(created=now, last_seen=now, **fields)  # type: ignore[arg-type]
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this cookie value, touched; None when unknown or expired."""
        if not session_id or len(session_id) > 100:
            return None
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self.idle_seconds or now - session.created > self.max_seconds:
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    def alive(self, session_id: str | None) -> bool:
        """Whether this cookie value's session still lives, without touching it (a page's
        open event stream must not keep an idle session alive)."""
        if not session_id or len(session_id) > 100:
            return False
        session = self._sessions.get(_digest(session_id))
        if session is None:
            return False
        now = self._clock()
        return (
            now - session.last_seen <= self.idle_seconds
            and now - session.created <= self.max_seconds
        )

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(_digest(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _sweep(self, now: float) -> None:
        stale = [
            k
            for k, s in self._sessions.items()
            if now - s.last_seen > self.idle_seconds or now - s.created > self.max_seconds
        ]
        for key in stale:
            del self._sessions[key]
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = sorted(self._sessions, key=lambda k: self._sessions[k].last_seen)
            for key in oldest[: len(self._sessions) - MAX_SESSIONS + 1]:
                del self._sessions[key]
