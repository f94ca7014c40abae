"""The time every use case reads: the system clock, or one a test moves instead of sleeping."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from aval.contract.addresses import is_loopback_host


class Clock(Protocol):
    """What tells the time to use cases, the deadline sweeper, claims and checkpoints."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    """The machine's clock: the only one a real deployment uses."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()
# Further than any test needs, and far from the end of datetime.
_LONGEST_OFFSET = timedelta(days=3650)


@dataclass
class MovableClock:
    """The system clock plus an offset a test advances, so a deadline passes without a sleep.

    Time only moves forward (a test never needs the past, and a decision must not be approved
    after its deadline because the clock went back).
    """

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a movable clock only moves forward")
        self.offset += timedelta(seconds=seconds)


class ClockFileRefused(ValueError):
    """The test clock file may not be used here; the message says why."""


class FileClock:
    """A test clock for a real server process: the system clock plus an offset read from a file.

    Only for end-to-end tests, which write a number of seconds into the file to make a deadline
    or a lease pass without sleeping. Guarded so it cannot be turned against a real deployment:
    it is off unless the operator names the file (AVAL_TEST_CLOCK_FILE); the server refuses to
    start with it unless it listens on a loopback address only, and unless the file belongs to
    the server's own user and no one else may write it; the offset is never negative and the
    clock never goes back, so a deadline can only come sooner, never later (I1); and the
    server logs at start-up that it runs on a test clock.
    """

    def __init__(self, path: Path, listen: str) -> None:
        host = listen.rpartition(":")[0].strip("[]") if ":" in listen else listen
        if not is_loopback_host(host):
            raise ClockFileRefused(
                f"AVAL_TEST_CLOCK_FILE is for tests only: listen on a loopback address, "
                f"not {listen}, or unset it"
            )
        try:
            status = path.stat()
        except OSError as exc:
            raise ClockFileRefused(f"AVAL_TEST_CLOCK_FILE {path}: {exc.strerror}") from exc
        if status.st_uid != os.getuid() or status.st_mode & 0o022:
            raise ClockFileRefused(
                f"AVAL_TEST_CLOCK_FILE {path} must belong to the server's user and be writable "
                "by no one else"
            )
        self.path = path
        self._offset = timedelta()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._read()

    def now(self) -> datetime:
        self._read()
        self._last = max(self._last, datetime.now(UTC) + self._offset)
        return self._last

    def _read(self) -> None:
        """Takes the file's offset, in seconds, if it is larger than the last one.

        Anything else (a file being rewritten, a smaller or absurd number) keeps the last one.
        """
        try:
            offset = timedelta(seconds=float(self.path.read_text(encoding="utf-8") or "0"))
        except (OSError, ValueError, OverflowError):
            return
        if self._offset < offset <= _LONGEST_OFFSET:
            self._offset = offset
