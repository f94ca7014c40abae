"""How long one supervisor may keep a decision to themselves: a claim's hold, and its end.

A claim lasts one lease and may be renewed, but the claims one supervisor makes on a decision
form one *hold*, which lasts at most `AVAL_CLAIM_MAX_HOLD_SECONDS` from its first claim: a
renewal never runs past that moment, and once it has come, the supervisor cannot claim the
decision again until it has been free for a lease (`AVAL_CLAIM_LEASE_SECONDS`), time in which
any colleague may claim it or give a verdict. A claim made before the decision has been free
that long continues the same hold; a claim after it, or after another supervisor's claim,
starts a new one. Indefinite blocking is impossible: in every stretch of one hold and one lease,
the decision is open to everyone for at least a lease.

The hold is read from the trail: each `decision.claimed` event says when its hold started
(`held_since`) and must end (`hold_ends_at`); events written before holds were limited count
from their own time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aval.audit_store.records import Decision
from aval.service.errors import FailedPrecondition
from aval.verifier.chain import utc_iso
from aval.verifier.events import AuditEvent


@dataclass(frozen=True)
class PastClaim:
    """The last claim made on a decision, as its `decision.claimed` event records it."""

    claimed_by: str
    expires_at: datetime
    held_since: datetime

    @classmethod
    def of(cls, event: AuditEvent | None) -> PastClaim | None:
        """The claim an event records; None without an event or with one it cannot read."""
        data: Any = event.body.get("data") if event is not None else None
        if event is None or not isinstance(data, dict):
            return None
        try:
            expires_at = datetime.fromisoformat(data["claim_expires_at"])
            since = data.get("held_since")
            held_since = datetime.fromisoformat(since) if since else event.occurred_at
            return cls(str(data["claimed_by"]), expires_at, held_since)
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Hold:
    """A claim that may be granted: until when, and the hold it belongs to."""

    since: datetime
    ends_at: datetime
    expires_at: datetime


def grant(
    d: Decision,
    principal_id: str,
    last: PastClaim | None,
    *,
    now: datetime,
    lease: timedelta,
    max_hold: timedelta,
    free_for: timedelta,
) -> Hold:
    """The claim `principal_id` may take now on `d`, within their hold.

    Args:
        d: The decision, as locked for update.
        principal_id: Who claims.
        last: The last claim made on the decision, by anyone.
        now: The time of the claim.
        lease: How long the claim asks for.
        max_hold: The longest one hold may last.
        free_for: How long the decision must have been free before a new hold starts.

    Raises:
        FailedPrecondition: CLAIM_HOLD_EXHAUSTED, when the hold has reached its end, or when
            it is the claim in force and a renewal cannot extend it.
    """
    continuing = (
        last is not None and last.claimed_by == principal_id and now < last.expires_at + free_for
    )
    since = last.held_since if continuing and last is not None else now
    ends_at = since + max_hold
    expires_at = min(now + lease, ends_at)
    holding = d.claim_holder(now) == principal_id and d.claim_expires_at is not None
    stuck = holding and expires_at >= ends_at and (d.claim_expires_at or now) >= ends_at
    if now < ends_at and not stuck:
        return Hold(since, ends_at, expires_at)
    # The claim in force ends when it says; a hold already over ended with its last claim.
    ended = last.expires_at if last is not None else ends_at
    until = (d.claim_expires_at if holding else None) or ended
    raise exhausted(d, principal_id, since, until, max_hold, free_for)


def exhausted(
    d: Decision,
    holder: str,
    since: datetime,
    until: datetime,
    max_hold: timedelta,
    free_for: timedelta,
) -> FailedPrecondition:
    """The refusal of a claim past the end of its hold: times in UTC, and in Paris time for
    the people who read it."""
    again = until + free_for
    return FailedPrecondition(
        "CLAIM_HOLD_EXHAUSTED",
        decision=d.id,
        holder=holder,
        since=utc_iso(since),
        until=utc_iso(until),
        again=utc_iso(again),
        max_hold=_duration(max_hold),
        since_paris=paris_time(since),
        until_paris=paris_time(until),
        again_paris=paris_time(again),
    )


def paris_time(moment: datetime) -> str:
    """A moment in the time of French agents, e.g. "12/03/2026 14:05:09"."""
    try:
        return f"{moment.astimezone(ZoneInfo('Europe/Paris')):%d/%m/%Y %H:%M:%S}"
    except ZoneInfoNotFoundError:  # a system without time zone data: say so
        return f"{moment.astimezone(UTC):%d/%m/%Y %H:%M:%S} UTC"


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"
