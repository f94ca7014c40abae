"""The checkpoints' retention rule (verifier/retention.py): what it keeps, and that thinning by
it never changes what a later application of it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from aval.verifier.retention import RetainedPoint, retained

NOW = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)


def _every(seconds: float, span: timedelta, *, start: int = 1) -> list[RetainedPoint]:
    """One checkpoint every `seconds` over the `span` before NOW, one event more each."""
    count = int(span.total_seconds() // seconds)
    return [
        RetainedPoint(start + i, NOW - span + timedelta(seconds=seconds * (i + 1)))
        for i in range(count)
    ]


def test_every_checkpoint_of_the_last_hour_is_kept() -> None:
    points = _every(2, timedelta(hours=1))
    assert retained(points, NOW) == {p.tree_size for p in points}


def _tiered(recent_every: float) -> list[RetainedPoint]:
    """Every 5 minutes for a year, then every `recent_every` seconds over the last day."""
    old = _every(300, timedelta(days=365))
    recent = _every(recent_every, timedelta(days=1), start=len(old) + 1)
    return [p for p in old if p.issued_at <= NOW - timedelta(days=1)] + recent


def _near(found: int, expected: int) -> bool:
    return abs(found - expected) <= 2  # the buckets cut at the tiers' edges


def test_the_last_of_each_minute_for_a_day_then_of_each_hour_then_of_each_day() -> None:
    points = _tiered(20)
    kept = retained(points, NOW)
    by_size = {p.tree_size: p.issued_at for p in points}
    ages = [NOW - by_size[size] for size in kept]
    assert _near(sum(age <= timedelta(hours=1) for age in ages), 180)
    assert _near(sum(timedelta(hours=1) < age <= timedelta(days=1) for age in ages), 23 * 60)
    assert _near(sum(timedelta(days=1) < age <= timedelta(days=31) for age in ages), 30 * 24)
    assert _near(sum(age > timedelta(days=31) for age in ages), 334 + 1)  # and the first
    minute = timedelta(minutes=1)
    for point in points:  # past the hour, a kept one is the last of its minute
        if point.tree_size in kept and NOW - point.issued_at > timedelta(hours=1):
            after = by_size.get(point.tree_size + 1)
            start = point.issued_at.replace(second=0, microsecond=0)
            assert after is None or after >= start + minute


def test_a_year_at_one_checkpoint_every_two_seconds_keeps_a_few_thousand() -> None:
    kept = retained(_tiered(2), NOW)
    assert _near(len(kept), 1800 + 23 * 60 + 30 * 24 + 334 + 1)


def test_the_first_the_latest_and_the_latest_cosigned_are_always_kept() -> None:
    old = NOW - timedelta(days=3)
    points = [
        RetainedPoint(1, old),
        RetainedPoint(2, old + timedelta(seconds=1), cosigned=True),
        RetainedPoint(3, old + timedelta(seconds=2), cosigned=True),
        RetainedPoint(4, old + timedelta(seconds=3)),
        RetainedPoint(5, old + timedelta(seconds=4)),
    ]
    assert retained(points, NOW) == {1, 3, 5}
    assert retained(points[:4], NOW) == {1, 3, 4}
    assert retained([], NOW) == frozenset()


_moments = st.lists(st.integers(min_value=0, max_value=90 * 24 * 3600), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    offsets=_moments,
    cosigned=st.lists(st.booleans(), min_size=60, max_size=60),
    first_pass=st.integers(min_value=0, max_value=40 * 24 * 3600),
    later=st.integers(min_value=0, max_value=40 * 24 * 3600),
)
def test_thinning_by_the_rule_never_changes_what_it_keeps_later(
    offsets: list[int], cosigned: list[bool], first_pass: int, later: int
) -> None:
    """What verification relies on: the rule applied at a later time to what a pass kept says
    the same as applied to every checkpoint ever signed, and keeps nothing the pass dropped."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    # Signing times grow with tree sizes.
    points = [
        RetainedPoint(size, start + timedelta(seconds=offset), cosigned[size - 1])
        for size, offset in enumerate(sorted(offsets), 1)
    ]
    last = points[-1].issued_at
    at_pass = last + timedelta(seconds=first_pass)
    at_verify = at_pass + timedelta(seconds=later)
    kept = retained(points, at_pass)
    after_pass = [p for p in points if p.tree_size in kept]
    everything_later = retained(points, at_verify)
    assert everything_later <= kept
    assert retained(after_pass, at_verify) == everything_later
