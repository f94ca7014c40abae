"""Renewing claims cannot keep a decision beyond the maximum hold; claims are audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, FailedPreconditionError
from aval.v1 import common_pb2, review_pb2
from tests.support import ClockFile

from ..helpers import PENDING, propose_kwargs
from .conftest import LEASE, MAX_HOLD, call, refused, written

pytestmark = pytest.mark.e2e


# --- Item 11: nobody holds a claim forever -----------------------------------------------------


def _expires(decision: common_pb2.Decision) -> datetime:
    return decision.claim.expires_at.ToDatetime(tzinfo=UTC)


def error_info(error: AvalError) -> dict[str, str]:
    """The parameters of a refusal (google.rpc.ErrorInfo.metadata), as the wire carries them."""
    assert isinstance(error.__cause__, grpc.Call)
    status = rpc_status.from_call(error.__cause__)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    raise AssertionError(f"no ErrorInfo in {error!r}")


def claim(channel: grpc.Channel, who: str, decision_id: str, lease: float) -> common_pb2.Decision:
    request = review_pb2.ClaimRequest(decision_id=decision_id)
    request.lease.FromNanoseconds(int(lease * 1e9))
    reply: review_pb2.ClaimResponse = call(channel, "Review", "Claim", request, who)
    return reply.decision


def test_renewals_cannot_hold_a_claim_beyond_the_maximum_hold(
    as_: Callable[[str], Client],
    channel: grpc.Channel,
    database_url: str,
    server_clock: ClockFile,
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = claim(channel, "sup-a1", d.id, LEASE)
    since = _expires(first) - timedelta(seconds=LEASE)
    events_before = written(database_url)[0]
    # A renewal every third of a lease: each comes while the claim before it is still live.
    step = LEASE / 3
    renewals = 0
    moved = 0.0
    while True:
        server_clock.advance(step)
        moved += step
        try:
            renewed = claim(channel, "sup-a1", d.id, LEASE)
        except FailedPreconditionError as refusal:
            error = refusal
            break
        renewals += 1
        assert _expires(renewed) <= since + timedelta(seconds=MAX_HOLD), renewals
        assert moved < MAX_HOLD + LEASE, "renewed beyond the maximum hold"
    assert renewals >= 3
    assert error.reason == "CLAIM_HOLD_EXHAUSTED"
    params = error_info(error)
    assert params["holder"] == "sup-a1" and params["decision"] == d.id
    until = datetime.fromisoformat(params["until"])
    again = datetime.fromisoformat(params["again"])
    assert until.tzinfo is not None and until.utcoffset() == timedelta(0)  # UTC on the wire
    assert until == since + timedelta(seconds=MAX_HOLD)
    assert again == until + timedelta(seconds=LEASE)
    assert "heure de Paris" in error.localized  # French text in Paris time
    # The refusal wrote nothing; every granted renewal wrote its event.
    assert written(database_url)[0] == events_before + renewals
    # Once it lapses, the holder must leave it free for a lease: another supervisor takes it.
    server_clock.advance_to(until + timedelta(milliseconds=50))
    again_refused = refused(FailedPreconditionError, lambda: sup1.claim(d.id))
    assert again_refused.reason == "CLAIM_HOLD_EXHAUSTED"
    taken = sup2.claim(d.id, lease_seconds=60)
    assert taken.claim.claimed_by == "sup-a2"
    assert sup2.decide(d.id, verdict="approve").state != PENDING


def test_a_long_lease_is_cut_to_the_maximum_hold(
    as_: Callable[[str], Client], server_clock: ClockFile
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    claimed = sup1.claim(d.id, lease_seconds=86400)
    # The server claimed before this moment, however long the call took.
    answered = server_clock.now()
    assert _expires(claimed) <= answered + timedelta(seconds=MAX_HOLD)


def test_after_a_free_lease_the_holder_may_claim_again(
    as_: Callable[[str], Client], server_clock: ClockFile
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = sup1.claim(d.id, lease_seconds=86400)
    hold_end = _expires(first)
    # Nothing more to give: a renewal cannot run past the hold (a shorter lease could).
    refused(FailedPreconditionError, lambda: sup1.claim(d.id, lease_seconds=86400))
    server_clock.advance_to(hold_end + timedelta(seconds=LEASE, milliseconds=100))
    again = sup1.claim(d.id, lease_seconds=LEASE)  # a new hold, after colleagues could take it
    assert again.claim.claimed_by == "sup-a1"
    assert _expires(again) > hold_end + timedelta(seconds=LEASE)


def test_claims_are_audited_with_the_start_of_the_hold(as_: Callable[[str], Client]) -> None:
    app, sup1, insp = as_("app-a"), as_("sup-a1"), as_("insp-a")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = sup1.claim(d.id, lease_seconds=LEASE)
    sup1.claim(d.id, lease_seconds=LEASE)
    events = insp.query_events(decision_id=d.id, kind="decision.claimed").events
    assert len(events) == 2
    datas = [json_format.MessageToDict(e.data) for e in events]
    since = _expires(first) - timedelta(seconds=LEASE)
    for data in datas:
        assert datetime.fromisoformat(data["held_since"]) == since
        assert datetime.fromisoformat(data["hold_ends_at"]) == since + timedelta(seconds=MAX_HOLD)
    assert insp.verify_chain().ok
