"""The hold of a claim (service/claim_hold.py): renewals stop at the hold's end, and a new hold
starts only once the decision has been free for a lease."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aval.service.decisions.claim_hold import Hold, PastClaim, grant, paris_time
from aval.service.errors import FailedPrecondition

T0 = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
LEASE = timedelta(minutes=15)
MAX_HOLD = timedelta(hours=1)


@dataclass
class Claimed:
    """What `grant` reads of a decision: its id and the claim in force."""

    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def claim_holder(self, now: datetime) -> str | None:
        live = self.claim_expires_at is not None and self.claim_expires_at > now
        return self.claimed_by if live else None


def take(
    d: Claimed, who: str, last: PastClaim | None, now: datetime, lease: timedelta = LEASE
) -> Hold:
    hold = grant(
        d,  # type: ignore[arg-type]
        who,
        last,
        now=now,
        lease=lease,
        max_hold=MAX_HOLD,
        free_for=LEASE,
    )
    d.claimed_by, d.claim_expires_at = who, hold.expires_at
    return hold


def past(who: str, hold: Hold) -> PastClaim:
    return PastClaim(who, hold.expires_at, hold.since)


def refusal(attempt: Any) -> dict[str, Any]:
    with pytest.raises(FailedPrecondition) as caught:
        attempt()
    assert caught.value.reason == "CLAIM_HOLD_EXHAUSTED"
    return caught.value.params


def test_renewals_never_run_past_the_end_of_the_hold() -> None:
    d = Claimed()
    hold = take(d, "sup-1", None, T0)
    assert (hold.since, hold.ends_at, hold.expires_at) == (T0, T0 + MAX_HOLD, T0 + LEASE)
    now = T0
    while True:
        now += timedelta(minutes=10)
        try:
            hold = take(d, "sup-1", past("sup-1", hold), now)
        except FailedPrecondition as error:
            params = error.params
            break
        assert hold.since == T0 and hold.expires_at <= T0 + MAX_HOLD
    assert now == T0 + MAX_HOLD  # the 50-minute renewal still got 10 minutes more, not 15
    assert params["until"] == "2026-03-12T14:00:00.000000Z"
    assert params["again"] == "2026-03-12T14:15:00.000000Z"
    assert params["until_paris"] == "12/03/2026 15:00:00"  # UTC+1 in March


def test_a_long_lease_is_cut_to_the_hold() -> None:
    assert take(Claimed(), "sup-1", None, T0, lease=timedelta(hours=24)).expires_at == T0 + MAX_HOLD


def test_after_the_hold_the_holder_waits_a_lease_but_colleagues_do_not() -> None:
    d = Claimed()
    hold = take(d, "sup-1", None, T0, lease=timedelta(hours=24))
    end = T0 + MAX_HOLD
    refusal(lambda: take(d, "sup-1", past("sup-1", hold), end + timedelta(minutes=14)))
    other = take(Claimed(), "sup-2", past("sup-1", hold), end + timedelta(seconds=1))
    assert other.since == end + timedelta(seconds=1)
    again = take(Claimed(), "sup-1", past("sup-1", hold), end + LEASE)
    assert again.since == end + LEASE and again.expires_at == end + 2 * LEASE


def test_letting_a_claim_lapse_briefly_does_not_start_a_new_hold() -> None:
    d = Claimed()
    hold = take(d, "sup-1", None, T0)
    later = T0 + LEASE + timedelta(minutes=5)  # free for 5 minutes only
    continued = take(d, "sup-1", past("sup-1", hold), later)
    assert continued.since == T0


def test_a_shorter_lease_is_always_granted_within_the_hold() -> None:
    d = Claimed()
    hold = take(d, "sup-1", None, T0, lease=timedelta(hours=24))
    day = timedelta(hours=24)
    params = refusal(lambda: take(d, "sup-1", past("sup-1", hold), T0 + LEASE, lease=day))
    assert params["until"] == "2026-03-12T14:00:00.000000Z"  # nothing more to give
    shorter = take(d, "sup-1", past("sup-1", hold), T0 + timedelta(minutes=5), lease=LEASE)
    assert shorter.expires_at == T0 + timedelta(minutes=20)


def test_old_claim_events_count_from_their_own_time() -> None:
    @dataclass
    class Event:
        body: dict[str, Any]
        occurred_at: datetime

    data = {"claimed_by": "sup-1", "claim_expires_at": "2026-03-12T13:15:00.000000Z"}
    claim = PastClaim.of(Event({"data": data}, T0))  # type: ignore[arg-type]
    assert claim == PastClaim("sup-1", T0 + LEASE, T0)
    assert PastClaim.of(Event({"data": {"claimed_by": 1}}, T0)) is None  # type: ignore[arg-type]
    assert PastClaim.of(None) is None


def test_paris_time_follows_summer_time() -> None:
    assert paris_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "01/07/2026 14:00:00"
