"""Retries, backoff bounds and circuit breaker transitions of the AI backends (fake clock)."""

from __future__ import annotations

import random

import pytest

from aval.audit_store.records import Factor
from aval.service.ai.backends import Advice, Backoff, BreakerState, CircuitBreaker
from aval.service.ai.backends.base import Answer, AttemptFailed, FailureKind
from aval.service.ai.backends.resilience import with_retries

ANSWER = Answer(Advice({"x": 1}, 0.5, "ok", (Factor("a", 1.0),), (), "v1"), 3, 4)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Script:
    """An attempt function that fails as scripted, then answers."""

    def __init__(self, *failures: FailureKind) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> Answer:
        self.calls += 1
        if self.failures:
            raise AttemptFailed(self.failures.pop(0), f"failure {self.calls}")
        return ANSWER


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    assert [backoff.ceiling(n) for n in range(1, 8)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    draws = random.Random(7)
    for retry in range(1, 8):
        for _ in range(200):
            assert 0 <= backoff.delay(retry, draws.random()) < backoff.ceiling(retry)
    assert backoff.delay(3, 0.0) == 0
    assert backoff.delay(3, 0.5) == pytest.approx(0.2)


async def test_transient_failures_are_retried_up_to_max_attempts() -> None:
    script, sleeps = Script(*[FailureKind.TRANSIENT] * 10), Sleeps()
    tried = await with_retries(
        script, max_attempts=3, backoff=Backoff(), sleep=sleeps, draw=lambda: 0.5
    )
    assert (tried.answer, tried.attempts, script.calls) == (None, 3, 3)
    assert tried.failure is not None and tried.failure.detail == "failure 3"
    assert sleeps.delays == pytest.approx([0.05, 0.1])  # none after the last attempt


async def test_a_transient_failure_then_an_answer_succeeds() -> None:
    script, sleeps = Script(FailureKind.TRANSIENT, FailureKind.TRANSIENT), Sleeps()
    tried = await with_retries(script, max_attempts=3, backoff=Backoff(), sleep=sleeps)
    assert (tried.answer, tried.failure, tried.attempts) == (ANSWER, None, 3)
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize(
    "kind", [FailureKind.INVALID_OUTPUT, FailureKind.REFUSED, FailureKind.MISCONFIGURED]
)
async def test_non_transient_failures_are_not_retried(kind: FailureKind) -> None:
    script, sleeps = Script(kind), Sleeps()
    tried = await with_retries(script, max_attempts=5, backoff=Backoff(), sleep=sleeps)
    assert (tried.attempts, script.calls, sleeps.delays) == (1, 1, [])
    assert tried.failure is not None and tried.failure.kind is kind


@pytest.mark.parametrize(("asked", "made"), [(0, 1), (1, 1), (9, 5)])
async def test_attempts_are_clamped_to_one_through_five(asked: int, made: int) -> None:
    script = Script(*[FailureKind.TRANSIENT] * 10)
    tried = await with_retries(script, max_attempts=asked, backoff=Backoff(), sleep=Sleeps())
    assert tried.attempts == script.calls == made


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        permit = breaker.admit()
        assert permit is not None
        breaker.record(permit, ok=False)


def test_the_breaker_opens_after_five_consecutive_failed_calls() -> None:
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=FakeClock())
    _fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    assert breaker.admit() is None


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=FakeClock())
    _fail(breaker, 4)
    permit = breaker.admit()
    assert permit is not None
    breaker.record(permit, ok=True)
    _fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED


def test_after_the_cooldown_one_probe_goes_through_and_closes_it() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=clock)
    _fail(breaker, 5)
    clock.now += 29.9
    assert breaker.admit() is None
    clock.now += 0.1
    probe = breaker.admit()
    assert probe is not None and probe.probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit() is None  # only one probe at a time
    breaker.record(probe, ok=True)
    assert breaker.state is BreakerState.CLOSED
    permit = breaker.admit()
    assert permit is not None and not permit.probe


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=clock)
    _fail(breaker, 5)
    clock.now += 30
    probe = breaker.admit()
    assert probe is not None
    clock.now += 10
    breaker.record(probe, ok=False)
    assert breaker.state is BreakerState.OPEN
    clock.now += 29
    assert breaker.admit() is None
    clock.now += 1
    assert breaker.admit() is not None


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=clock)
    _fail(breaker, 5)
    clock.now += 30
    probe = breaker.admit()
    assert probe is not None
    breaker.abandon(probe)
    again = breaker.admit()
    assert again is not None and again.probe


def test_results_of_calls_admitted_before_it_opened_are_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, cooldown=30, clock=clock)
    late = breaker.admit()
    assert late is not None
    _fail(breaker, 5)
    breaker.record(late, ok=True)
    assert breaker.state is BreakerState.OPEN
    assert breaker.admit() is None


def test_a_breaker_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="threshold of 1 or more"):
        CircuitBreaker(threshold=0)
