"""What a decision type's review modes withhold from a reviewer for now (docs/review_modes.md).

- decide-first: the AI's suggestion, until the reviewer recorded their own view (RecordView);
- blind second review: the other reviewers' verdicts, until the reviewer gave their own.

Both apply to the people who may review the decision (an eligible role in its tenant) while it
is pending, wherever they read it: GetCase, GetDecision, WatchDecision, ListQueue, Claim. Once
final, nothing is withheld (nobody can be swayed any more); other roles (inspectors through the
Audit service, the application) are never affected. What a reviewer did is read from the trail,
the only record of it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import trail
from aval.audit_store.records import Decision, Verdict
from aval.policies import PolicyBook, ReviewPolicy
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.verifier.events import AuditEvent

DISPLAYED = "review.case_displayed"
VIEW_RECORDED = "review.view_recorded"


@dataclass(frozen=True)
class RecordedView:
    """A reviewer's own view, recorded before the AI's suggestion was shown to them."""

    verdict: Verdict
    output: dict[str, Any] | None
    note: str
    recorded_at: datetime


@dataclass(frozen=True)
class ReviewerSteps:
    """What one reviewer did on one decision before their verdict, from the trail."""

    first_displayed_at: datetime | None = None
    view: RecordedView | None = None


@dataclass
class WithheldDecision(Decision):
    """A decision less what its review modes withhold from one caller for now, saying what;
    every use case that answers a reviewer's read returns one in place of the stored record."""

    suggestion_withheld: bool = False
    verdicts_withheld: bool = False


@dataclass(frozen=True)
class Shown:
    """A decision as one caller may see it now, and what is withheld from them."""

    decision: Decision
    suggestion_withheld: bool = False
    verdicts_withheld: bool = False


def may_review(principal: Principal, d: Decision, policy: ReviewPolicy | None) -> bool:
    """Whether the modes concern this caller: the decision is pending and they hold a role
    that may review it."""
    if policy is None or d.state.is_final:
        return False
    return bool(principal.roles_in(d.tenant_id) & set(policy.eligible_roles))


def _needs_view(policy: ReviewPolicy | None) -> bool:
    return policy is not None and policy.decide_first


def shown(d: Decision, policy: ReviewPolicy | None, principal: Principal, viewed: bool) -> Shown:
    """`d` less what its review modes withhold from `principal` now; `viewed` tells whether
    they recorded their own view of it."""
    if not may_review(principal, d, policy):
        return Shown(d)
    assert policy is not None
    own = any(r.reviewer_id == principal.id for r in d.reviews)
    hide_suggestion = policy.decide_first and not viewed and not own and d.suggestion is not None
    others = [r for r in d.reviews if r.reviewer_id != principal.id]
    hide_verdicts = policy.blind_second_review and not own and bool(others)
    if not (hide_suggestion or hide_verdicts):
        return Shown(d)
    changes: dict[str, Any] = {}
    if hide_suggestion:
        changes["suggestion"] = None
    if hide_verdicts:
        # The count goes too: with a quorum of two, "1 approval" is the first verdict.
        changes.update(
            reviews=[],
            approvals=0,
            rejections=0,
            pending_output=d.suggestion.output if d.suggestion is not None else None,
        )
    fields = {f.name: getattr(d, f.name) for f in dataclasses.fields(Decision)}
    fields.update(changes)
    withheld = WithheldDecision(
        **fields, suggestion_withheld=hide_suggestion, verdicts_withheld=hide_verdicts
    )
    return Shown(withheld, hide_suggestion, hide_verdicts)


def steps_of(events: Sequence[AuditEvent]) -> ReviewerSteps:
    """A reviewer's steps from their DISPLAYED and VIEW_RECORDED events of one decision."""
    displayed = next((e.occurred_at for e in events if e.kind == DISPLAYED), None)
    view = None
    for e in events:
        data = e.body.get("data")
        if e.kind == VIEW_RECORDED and isinstance(data, dict):
            output = data.get("output")
            view = RecordedView(
                verdict=Verdict(str(data.get("verdict"))),
                output=output if isinstance(output, dict) else None,
                note=str(data.get("note") or ""),
                recorded_at=e.occurred_at,
            )
    return ReviewerSteps(displayed, view)


async def reviewer_steps(
    conn: AsyncConnection[Any], tenant: str, decision_id: uuid.UUID, reviewer: str
) -> ReviewerSteps:
    events = await trail.actor_events(
        conn, tenant, decision_id, reviewer, (DISPLAYED, VIEW_RECORDED)
    )
    return steps_of(events)


async def shown_one(
    conn: AsyncConnection[Any], policies: PolicyBook, principal: Principal, d: Decision
) -> Shown:
    """`shown` for one decision, reading whether the caller recorded a view when it matters."""
    policy = policies.get(d.tenant_id, d.decision_type)
    viewed = False
    if may_review(principal, d, policy) and _needs_view(policy):
        viewed = (await reviewer_steps(conn, d.tenant_id, d.id, principal.id)).view is not None
    return shown(d, policy, principal, viewed)


async def shown_to(deployment: Deployment, principal: Principal, d: Decision) -> Decision:
    """`shown_one` after a write: reads (when it matters) on a connection of its own, so that
    the write's transaction holds its locks no longer."""
    policy = deployment.policies.get(d.tenant_id, d.decision_type)
    if not (may_review(principal, d, policy) and _needs_view(policy)):
        return shown(d, policy, principal, False).decision
    async with deployment.store.reading() as conn:
        return (await shown_one(conn, deployment.policies, principal, d)).decision


async def shown_page(
    conn: AsyncConnection[Any],
    policies: PolicyBook,
    principal: Principal,
    tenant: str,
    page: Sequence[Decision],
) -> list[Decision]:
    """`shown` for a page of one tenant's decisions, with one read of the caller's views."""
    wanted = [
        d.id
        for d in page
        if may_review(principal, d, p := policies.get(tenant, d.decision_type)) and _needs_view(p)
    ]
    viewed = (
        await trail.decisions_with_actor_event(conn, tenant, wanted, principal.id, VIEW_RECORDED)
        if wanted
        else set()
    )
    return [
        shown(d, policies.get(tenant, d.decision_type), principal, d.id in viewed).decision
        for d in page
    ]
