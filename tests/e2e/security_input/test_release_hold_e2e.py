"""Releasing a claim does not reset its hold: claim, release, claim again continues the same
hold, which still ends at most `MAX_HOLD` after the first claim (item 11 stays true)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError
from tests.support import ClockFile

from ..helpers import propose_kwargs
from .conftest import LEASE, MAX_HOLD, refused

pytestmark = pytest.mark.e2e


def test_release_then_claim_again_cannot_hold_a_decision_beyond_the_maximum_hold(
    as_: Callable[[str], Client], server_clock: ClockFile
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = sup1.claim(d.id, lease_seconds=LEASE)
    since = first.claim.expires_at.ToDatetime(tzinfo=UTC) - timedelta(seconds=LEASE)
    # Each cycle moves the server's clock by a third of a lease: a claim is still live when
    # it is released, and the next claim comes well before the decision has been free a lease.
    step = LEASE / 3
    cycles = 0
    while True:
        assert not sup1.release(d.id).claim.claimed_by
        server_clock.advance(step)
        try:
            claimed = sup1.claim(d.id, lease_seconds=LEASE)
        except FailedPreconditionError as refusal:
            assert refusal.reason == "CLAIM_HOLD_EXHAUSTED"
            break
        cycles += 1
        expires = claimed.claim.expires_at.ToDatetime(tzinfo=UTC)
        assert expires <= since + timedelta(seconds=MAX_HOLD)
        assert cycles * step < MAX_HOLD + LEASE, "release reset the hold"
    assert cycles >= 3
    # Released and out of hold: a colleague takes it at once.
    assert sup2.claim(d.id, lease_seconds=LEASE).claim.claimed_by == "sup-a2"
    assert refused(FailedPreconditionError, lambda: sup1.release(d.id)).reason == (
        "CLAIMED_BY_ANOTHER"
    )
