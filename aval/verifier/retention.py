"""The checkpoints' retention rule: which of a tenant's signed checkpoints are kept.

Documented in docs/signing.md. A pure function of the checkpoints' tree sizes, signing times
and cosigned flags, and of the time it is applied: the service thins by it, and verification
applies it again to tell a checkpoint thinned by the rule from one someone dropped
(`checkpoint_missing`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EVERY_ONE_FOR = timedelta(hours=1)
"""Every checkpoint younger than this is kept."""
ONE_A_MINUTE_FOR = timedelta(days=1)
"""Then the last checkpoint of each UTC minute, up to this age."""
ONE_AN_HOUR_FOR = timedelta(days=31)
"""Then the last of each UTC hour, up to this age; beyond, the last of each UTC day."""


@dataclass(frozen=True)
class RetainedPoint:
    """What the rule reads of one checkpoint.

    Attributes:
        tree_size: Its tree size (a tenant has one checkpoint per size).
        issued_at: When it was signed (timezone-aware).
        cosigned: Whether a witness cosigned it.
    """

    tree_size: int
    issued_at: datetime
    cosigned: bool = False


# The granularities beyond the first hour, finest first: the number of UTC fields
# (year, month, day, hour, minute) a bucket keeps, and the age up to which it applies.
_TIERS = ((5, ONE_A_MINUTE_FOR), (4, ONE_AN_HOUR_FOR), (3, timedelta.max))


def _fields(moment: datetime) -> tuple[int, ...]:
    utc = moment.astimezone(UTC)
    return (utc.year, utc.month, utc.day, utc.hour, utc.minute)


def retained(points: Iterable[RetainedPoint], now: datetime) -> frozenset[int]:
    """The tree sizes of the checkpoints the rule keeps at `now`.

    Kept: every checkpoint signed in the last hour; the last (largest tree size) of each UTC
    minute for the last day; the last of each UTC hour for the last 31 days; the last of each
    UTC day before that ("last of" among all the checkpoints given, whatever their ages).
    Always kept: the first and the latest checkpoint, and the latest one a witness cosigned.

    The buckets nest (a day's last checkpoint is the last of its last hour, which is the last
    of that hour's last minute) and a checkpoint only moves to coarser ones as it ages, so one
    the rule drops at some time it drops at every later time, also when applied to what an
    earlier pass kept (the last of each bucket is never dropped). This holds as long as
    signing times grow with tree sizes (one clock; replicas' clocks within seconds).

    Args:
        points: A tenant's checkpoints, in any order.
        now: The time the rule is applied at (timezone-aware).

    Returns:
        The kept tree sizes.
    """
    ordered = sorted(points, key=lambda p: p.tree_size)
    if not ordered:
        return frozenset()
    kept = {ordered[0].tree_size, ordered[-1].tree_size}
    cosigned = [p.tree_size for p in ordered if p.cosigned]
    if cosigned:
        kept.add(cosigned[-1])
    # The last checkpoint of every UTC minute, hour and day, whatever their ages.
    last_of: dict[tuple[int, ...], int] = {}
    for point in ordered:
        fields = _fields(point.issued_at)
        for width, _ in _TIERS:
            last_of[fields[:width]] = point.tree_size
    for point in ordered:
        age = now - point.issued_at
        if age <= EVERY_ONE_FOR:
            kept.add(point.tree_size)
            continue
        width = next(width for width, limit in _TIERS if age <= limit)
        if last_of[_fields(point.issued_at)[:width]] == point.tree_size:
            kept.add(point.tree_size)
    return frozenset(kept)


def union(*groups: Iterable[RetainedPoint]) -> list[RetainedPoint]:
    """The checkpoints of several sources (the database, the witness file), one per tree size,
    cosigned when any source says so."""
    found: dict[int, RetainedPoint] = {}
    for group in groups:
        for point in group:
            known = found.get(point.tree_size)
            if known is None or (point.cosigned and not known.cosigned):
                found[point.tree_size] = point
    return list(found.values())
