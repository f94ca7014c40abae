"""The time every use case reads: the system clock, or one a test moves instead of sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


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
