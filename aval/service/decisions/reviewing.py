"""Claim and Decide: supervisors' verdicts, separation of duties, and the quorum (I1, I2)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import decisions, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Decision, DecisionState, Review, Verdict
from aval.policies import ReviewPolicy
from aval.service.decisions import claim_hold, review_modes, seen
from aval.service.decisions.payloads import schema_violations, size_violations
from aval.service.decisions.reviewer_registry import required_qualification, used
from aval.service.deployment import Deployment
from aval.service.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from aval.service.identity import Principal, actor_of
from aval.service.requests.decisions import ClaimIn, DecideIn, ReleaseIn
from aval.service.telemetry import current_trace_id
from aval.service.text import has_visible_text
from aval.service.webhooks.outcomes import Outcomes
from aval.verifier.chain import utc_iso

_VERDICT_FR = {Verdict.APPROVE: "approuver", Verdict.AMEND: "amender", Verdict.REJECT: "rejeter"}
_VERDICTS = {
    "VERDICT_APPROVE": Verdict.APPROVE,
    "VERDICT_AMEND": Verdict.AMEND,
    "VERDICT_REJECT": Verdict.REJECT,
}


def check_reviewer(d: Decision, principal: Principal, policy: ReviewPolicy, now: datetime) -> None:
    """What every human action on a pending decision requires."""
    if d.state.is_final:
        raise FailedPrecondition("DECISION_FINAL", decision=d.id, state=d.state.value)
    if now >= d.deadline:
        raise FailedPrecondition("DEADLINE_PASSED", decision=d.id, deadline=utc_iso(d.deadline))
    if principal.id == d.proposer_id:
        raise PermissionDenied("PROPOSER_CANNOT_REVIEW", decision=d.id)
    if not principal.roles_in(d.tenant_id) & set(policy.eligible_roles):
        raise PermissionDenied(
            "NOT_AN_ELIGIBLE_REVIEWER",
            decision_type=d.decision_type,
            roles=", ".join(policy.eligible_roles),
        )
    if policy.approver_acr and principal.acr not in policy.approver_acr:
        raise PermissionDenied(
            "AUTHENTICATION_LEVEL",
            decision_type=d.decision_type,
            required=", ".join(policy.approver_acr),
            acr=principal.acr or "-",
        )
    if any(r.reviewer_id == principal.id for r in d.reviews):
        raise FailedPrecondition("ALREADY_REVIEWED", reviewer=principal.id, decision=d.id)
    holder = d.claim_holder(now)
    if holder is not None and holder != principal.id:
        raise FailedPrecondition(
            "CLAIMED_BY_ANOTHER",
            decision=d.id,
            holder=holder,
            until=utc_iso(d.claim_expires_at or now),
        )


async def load_locked(
    deployment: Deployment, conn: AsyncConnection[Any], tenant: str, decision_id: uuid.UUID
) -> tuple[Decision, ReviewPolicy]:
    d = await decisions.get(conn, tenant, decision_id, for_update=True)
    policy = deployment.policies.get(tenant, d.decision_type)
    if policy is None:
        raise FailedPrecondition("POLICY_MISSING", decision_type=d.decision_type, tenant=tenant)
    return d, policy


async def locked_for_review(
    deployment: Deployment,
    conn: AsyncConnection[Any],
    principal: Principal,
    tenant: str,
    decision_id: uuid.UUID,
    seen_version: int,
) -> tuple[Decision, ReviewPolicy, datetime]:
    """The decision locked for a reviewer's act, its policy and the time, once the act is
    theirs to make on the version they saw (`seen`, `check_reviewer`)."""
    d, policy = await load_locked(deployment, conn, tenant, decision_id)
    await seen.check(conn, tenant, d, principal.id, seen_version)
    now = deployment.clock.now()
    check_reviewer(d, principal, policy, now)
    return d, policy, now


def refuse_too_large(deployment: Deployment, payload: dict[str, Any] | None, field: str) -> None:
    """Raises InvalidArgument when `payload` is over the deployment's size limit."""
    too_large = size_violations(payload, field, deployment.settings.max_payload_bytes)
    if too_large:
        raise InvalidArgument(too_large)


def _time_on_task(steps: review_modes.ReviewerSteps, now: datetime) -> dict[str, Any]:
    """Seconds from the reviewer's first display of the case (GetCase) to their verdict;
    nothing when the case was never displayed to them through GetCase."""
    if steps.first_displayed_at is None:
        return {}
    seconds = max(0.0, (now - steps.first_displayed_at).total_seconds())
    return {"seconds_on_task": round(seconds, 3)}


def _state_data(d: Decision) -> dict[str, Any]:
    return {"decision_state": d.state.value, "decision_version": d.version + 1}


async def claim(deployment: Deployment, principal: Principal, request: ClaimIn) -> Decision:
    """Takes (or renews) a lease on a pending decision so other supervisors leave it alone.

    A lease never runs past the end of the caller's hold (`claim_hold`). Returns the decision
    less what its review modes withhold from the caller.

    Raises:
        FailedPrecondition: CASE_CHANGED when the decision changed since the version the
            caller saw (`seen`); as for a verdict (final, overdue, claimed by another, already
            reviewed), or CLAIM_HOLD_EXHAUSTED when the caller's hold has come to its end.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.claim")
    settings = deployment.settings
    default_lease = timedelta(seconds=settings.claim_lease_seconds)
    async with deployment.store.transaction() as conn:
        d, policy, now = await locked_for_review(
            deployment, conn, principal, tenant, request.decision_id, request.seen_version
        )
        qualification = await required_qualification(conn, tenant, principal, policy, now)
        last = await trail.last_event(conn, tenant, d.id, "decision.claimed")
        hold = claim_hold.grant(
            d,
            principal.id,
            claim_hold.PastClaim.of(last),
            now=now,
            lease=request.lease or default_lease,
            max_hold=timedelta(seconds=settings.claim_max_hold),
            free_for=default_lease,
        )
        d.claimed_by, d.claim_expires_at, d.updated_at = principal.id, hold.expires_at, now
        event = NewEvent(
            "decision.claimed",
            actor_of(principal),
            d.id,
            {
                "claimed_by": principal.id,
                "claim_expires_at": utc_iso(hold.expires_at),
                "held_since": utc_iso(hold.since),
                "hold_ends_at": utc_iso(hold.ends_at),
                **used(qualification),
                **_state_data(d),
            },
        )
        await decisions.save(conn, d)
        await trail.append_events(
            conn, tenant, [event], occurred_at=now, trace_id=current_trace_id()
        )
    return await review_modes.shown_to(deployment, principal, d)


async def release(deployment: Deployment, principal: Principal, request: ReleaseIn) -> Decision:
    """Gives back the caller's live claim on a decision before its lease ends; returns the
    decision less what its review modes withhold from the caller.

    Only the holder may release a claim; a refusal writes nothing.

    Raises:
        FailedPrecondition: DECISION_FINAL, NOT_CLAIMED when nobody holds a live claim, or
            CLAIMED_BY_ANOTHER when someone else holds it.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.claim")
    async with deployment.store.transaction() as conn:
        d, _ = await load_locked(deployment, conn, tenant, request.decision_id)
        now = deployment.clock.now()
        if d.state.is_final:
            raise FailedPrecondition("DECISION_FINAL", decision=d.id, state=d.state.value)
        holder = d.claim_holder(now)
        if holder is None:
            raise FailedPrecondition("NOT_CLAIMED", decision=d.id)
        if holder != principal.id:
            raise FailedPrecondition(
                "CLAIMED_BY_ANOTHER",
                decision=d.id,
                holder=holder,
                until=utc_iso(d.claim_expires_at or now),
            )
        lease_ended_at = d.claim_expires_at or now
        d.claimed_by, d.claim_expires_at, d.updated_at = None, None, now
        event = NewEvent(
            "decision.released",
            actor_of(principal),
            d.id,
            {
                "released_by": principal.id,
                "claim_expires_at": utc_iso(lease_ended_at),
                **_state_data(d),
            },
        )
        await decisions.save(conn, d)
        await trail.append_events(
            conn, tenant, [event], occurred_at=now, trace_id=current_trace_id()
        )
    return await review_modes.shown_to(deployment, principal, d)


def _check_verdict(d: Decision, policy: ReviewPolicy, verdict: Verdict, request: DecideIn) -> None:
    violations = []
    required = verdict.value.lower() in policy.justification_required_for
    if required and not has_visible_text(request.justification):
        violations.append(
            FieldViolation(
                "justification",
                "JUSTIFICATION_REQUIRED",
                {
                    "decision_type": d.decision_type,
                    "verdict": verdict.value.lower(),
                    "verdict_fr": _VERDICT_FR[verdict],
                },
            )
        )
    if verdict is Verdict.AMEND and not request.amended_output:
        violations.append(FieldViolation("amended_output", "AMENDED_OUTPUT_REQUIRED"))
    elif verdict is Verdict.AMEND and request.amended_output:
        violations += schema_violations(policy, request.amended_output, "amended_output")
    if verdict is not Verdict.AMEND and request.amended_output:
        violations.append(FieldViolation("amended_output", "AMENDED_OUTPUT_NOT_ALLOWED"))
    if violations:
        raise InvalidArgument(violations)
    if verdict is Verdict.AMEND and not policy.allow_amend:
        raise FailedPrecondition("AMEND_NOT_ALLOWED", decision_type=d.decision_type)
    if verdict is Verdict.APPROVE and d.pending_output is None:
        raise FailedPrecondition("NOTHING_TO_APPROVE", decision=d.id)


def _apply(d: Decision, review: Review, now: datetime) -> None:
    """Counts the verdict and closes the decision when the policy's quorum is met (I1)."""
    d.reviews.append(review)
    if review.verdict is Verdict.REJECT:
        d.rejections += 1
    else:
        d.approvals += 1
        if review.verdict is Verdict.AMEND:
            d.pending_output = review.amended_output
    if d.claimed_by == review.reviewer_id:
        d.claimed_by, d.claim_expires_at = None, None
    d.updated_at = now
    if d.rejections >= d.rejections_to_close:
        d.state = DecisionState.REJECTED
    elif d.approvals >= d.required_approvals:
        amended = any(r.verdict is Verdict.AMEND for r in d.reviews)
        d.state = DecisionState.AMENDED if amended else DecisionState.APPROVED
        d.outcome = d.pending_output
    if d.state.is_final:
        d.finalized_at = now


async def decide(deployment: Deployment, principal: Principal, request: DecideIn) -> Decision:
    """Records one verdict; the decision becomes final when the quorum is met.

    Raises:
        PermissionDenied: the caller proposed the decision or lacks an eligible role, or (when
            the policy requires it) a valid qualification of the reviewer registry (R11), or
            signed in at an authentication level the policy does not accept
            (AUTHENTICATION_LEVEL).
        FailedPrecondition: the decision changed since the version the reviewer saw
            (CASE_CHANGED, `seen`), is final, overdue, claimed by another, already reviewed
            by the caller, the verdict is not allowed by its policy, or the type is in
            decide-first mode and the caller recorded no view of it (VIEW_REQUIRED).
        InvalidArgument: a required justification or amended output is missing, or the
            amended output is over the size limit or outside the type's output schema.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.decide")
    verdict = _VERDICTS[request.verdict]
    refuse_too_large(deployment, request.amended_output, "amended_output")
    async with deployment.store.transaction() as conn:
        d, policy, now = await locked_for_review(
            deployment, conn, principal, tenant, request.decision_id, request.seen_version
        )
        qualification = await required_qualification(conn, tenant, principal, policy, now)
        _check_verdict(d, policy, verdict, request)
        steps = await review_modes.reviewer_steps(conn, tenant, d.id, principal.id)
        if policy.decide_first and steps.view is None:
            raise FailedPrecondition("VIEW_REQUIRED", decision=d.id)
        review = Review(
            reviewer_id=principal.id,
            reviewer_roles=tuple(sorted(principal.roles_in(tenant))),
            verdict=verdict,
            justification=request.justification,
            amended_output=request.amended_output,
            decided_at=now,
        )
        await decisions.insert_review(conn, tenant, d.id, review)
        _apply(d, review, now)
        actor = actor_of(principal)
        events = [
            NewEvent(
                "review.recorded",
                actor,
                d.id,
                {
                    "verdict": verdict.value,
                    "justification": review.justification,
                    "amended_output": review.amended_output,
                    "reviewer_roles": list(review.reviewer_roles),
                    # what made the reviewer eligible, so the trail alone can prove it (I1)
                    "eligible_roles": list(policy.eligible_roles),
                    "approvals": d.approvals,
                    "rejections": d.rejections,
                    **used(qualification),
                    **_time_on_task(steps, now),
                    **_state_data(d),
                },
            )
        ]
        if d.state.is_final:
            events.append(
                NewEvent(
                    "decision.finalized",
                    actor,
                    d.id,
                    {
                        "outcome": d.outcome,
                        "validators": [
                            r.reviewer_id for r in d.reviews if r.verdict is not Verdict.REJECT
                        ],
                        "rejected_by": [
                            r.reviewer_id for r in d.reviews if r.verdict is Verdict.REJECT
                        ],
                        "policy_revision": policy.revision,
                        **_state_data(d),
                    },
                )
            )
        await decisions.save(conn, d)
        await Outcomes(deployment.egress, deployment.policies).append(
            conn, tenant, events, {d.id: d}, occurred_at=now, trace_id=current_trace_id()
        )
    return d
