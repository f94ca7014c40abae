"""Bounded retries with jittered exponential backoff, and a circuit breaker per backend.

An AI failure never loses a proposal (it goes to review without a suggestion), so the point of
both is to bound how long a proposal waits on a sick backend: a few quick retries for a
transient fault, and no waiting at all while a backend that keeps failing cools down.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aval.service.ai.backends.base import Answer, AttemptFailed, FailureKind


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: before retry n (1, 2, …), sleep a uniform draw in
    [0, min(cap, base · 2^(n-1))] seconds, so that callers of one backend spread out."""

    base: float = 0.1
    cap: float = 2.0

    def ceiling(self, retry: int) -> float:
        """The longest sleep before retry `retry` (1 for the first retry)."""
        return min(self.cap, self.base * 2.0 ** (retry - 1))

    def delay(self, retry: int, draw: float) -> float:
        """The sleep before retry `retry` for a draw in [0, 1)."""
        return draw * self.ceiling(retry)


@dataclass(frozen=True)
class Tried:
    """The result of all attempts of one call: an answer, or the last failure."""

    answer: Answer | None
    failure: AttemptFailed | None
    attempts: int


async def with_retries(
    attempt: Callable[[], Awaitable[Answer]],
    *,
    max_attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]],
    draw: Callable[[], float] = random.random,
) -> Tried:
    """Runs `attempt` until it answers, fails for good, or `max_attempts` (clamped to 1..5)
    attempts have failed transiently. Only TRANSIENT failures are retried."""
    limit = max(1, min(5, max_attempts))
    made = 0
    while True:
        made += 1
        try:
            return Tried(await attempt(), None, made)
        except AttemptFailed as failure:
            if failure.kind is not FailureKind.TRANSIENT or made >= limit:
                return Tried(None, failure, made)
        await sleep(backoff.delay(made, draw()))


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; `probe` for the single call let through after a cool-down."""

    probe: bool


class CircuitBreaker:
    """Opens after `threshold` consecutive failed calls; while open, refuses calls for
    `cooldown` seconds; then lets one probe through, which closes it or opens it again.

    A call counts as failed when the backend could not be reached or kept failing
    transiently; an answer, even an unusable one, shows the backend is up and counts as a
    success. Results of calls admitted before the breaker opened are ignored.
    """

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown < 0:
            raise ValueError("the breaker needs a threshold of 1 or more and a cooldown >= 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        return self._state

    def admit(self) -> Permit | None:
        """A permit for one call, or None while the breaker is open (or probing)."""
        if self._state is BreakerState.CLOSED:
            return Permit(probe=False)
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.cooldown:
                return None
            self._state = BreakerState.HALF_OPEN
        if self._probing:
            return None
        self._probing = True
        return Permit(probe=True)

    def record(self, permit: Permit, ok: bool) -> None:
        """The result of a call made under `permit`."""
        if permit.probe:
            self._probing = False
            if ok:
                self._close()
            else:
                self._open()
        elif self._state is BreakerState.CLOSED:
            if ok:
                self._failures = 0
            else:
                self._failures += 1
                if self._failures >= self.threshold:
                    self._open()

    def abandon(self, permit: Permit) -> None:
        """A call made under `permit` ended without a result (cancelled): the next call
        may probe in its place."""
        if permit.probe:
            self._probing = False

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
