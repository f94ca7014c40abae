"""GetCase and RecordView: a case as its reviewer is shown it, and their own view before the
AI's suggestion (decide-first); the first display of a case to a reviewer is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aval.audit_store import decisions, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Decision
from aval.policies import ReviewPolicy
from aval.service.audit.access_journal import journal_read
from aval.service.decisions import review_modes
from aval.service.decisions.payloads import schema_violations
from aval.service.decisions.review_modes import DISPLAYED, VIEW_RECORDED, RecordedView, Shown
from aval.service.decisions.reviewer_registry import required_qualification
from aval.service.decisions.reviewing import locked_for_review, refuse_too_large
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition, InvalidArgument
from aval.service.identity import Principal, actor_of
from aval.service.people.resolving import display_names
from aval.service.requests.decisions import CaseIn, RecordViewIn
from aval.service.telemetry import current_trace_id
from aval.verifier.events import AuditEvent

# A case's history is its trail; a decision has a few dozen events, this is a guard.
_MAX_HISTORY = 2_000


@dataclass(frozen=True)
class Case:
    """What GetCase answers: the decision as the caller may see it now, its policy (None if
    its type has no policy any more), its history with display names, the caller's steps."""

    shown: Shown
    policy: ReviewPolicy | None
    history: list[AuditEvent]
    names: dict[str, str]
    first_displayed_at: datetime | None
    own_view: RecordedView | None


def _visible(events: list[AuditEvent], caller: str, verdicts_withheld: bool) -> list[AuditEvent]:
    """The history less other reviewers' views and verdicts while they are withheld."""
    if not verdicts_withheld:
        return events
    hidden = {"review.recorded", VIEW_RECORDED}
    return [e for e in events if e.kind not in hidden or e.actor_id == caller]


async def _record_display(deployment: Deployment, principal: Principal, d: Decision) -> datetime:
    """Appends the reviewer's first display of the case, once per reviewer and decision."""
    async with deployment.store.transaction() as conn:
        # Two first GetCase at once would otherwise both find no display and both append one.
        key = f"case-displayed/{d.tenant_id}/{d.id}/{principal.id}"
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        earlier = await trail.actor_events(conn, d.tenant_id, d.id, principal.id, (DISPLAYED,))
        if earlier:
            return earlier[0].occurred_at
        now = deployment.clock.now()
        event = NewEvent(DISPLAYED, actor_of(principal), d.id, {"version_shown": d.version})
        await trail.append_events(
            conn, d.tenant_id, [event], occurred_at=now, trace_id=current_trace_id()
        )
    return now


async def get_case(deployment: Deployment, principal: Principal, request: CaseIn) -> Case:
    """The case less what its review modes withhold from the caller; journaled as a read
    (R13). A reviewer's first GetCase of a pending decision appends `review.case_displayed`:
    their time on task starts there.

    Raises:
        PermissionDenied: the caller may not read cases of the tenant (supervisors may).
        NotFound: no such decision in the tenant.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "case.read")
    async with deployment.store.reading() as conn:
        d = await decisions.get(conn, tenant, request.decision_id)
        steps = await review_modes.reviewer_steps(conn, tenant, d.id, principal.id)
    policy = deployment.policies.get(tenant, d.decision_type)
    first = steps.first_displayed_at
    reviewer = review_modes.may_review(principal, d, policy) and principal.id != d.proposer_id
    if first is None and reviewer:
        first = await _record_display(deployment, principal, d)
    async with deployment.store.reading() as conn:
        flt = trail.EventFilter(tenant_id=tenant, decision_id=d.id)
        events = await trail.query_events(conn, flt, after_seq=0, limit=_MAX_HISTORY)
    shown = review_modes.shown(d, policy, principal, steps.view is not None)
    history = _visible(events, principal.id, shown.verdicts_withheld)
    names: dict[str, str] = {}
    if deployment.authorizer.allowed(principal, tenant, "people.resolve"):
        names = await display_names(deployment, tenant, sorted({e.actor_id for e in history}))
    await journal_read(deployment, principal, [tenant], "case.get", decisions=[d.id])
    return Case(shown, policy, history, names, first, steps.view)


async def record_view(deployment: Deployment, principal: Principal, request: RecordViewIn) -> Case:
    """Records the caller's own view of a case of a decide-first type, before the AI's
    suggestion is shown to them; then answers the case as GetCase does, suggestion included.

    Raises:
        PermissionDenied: as for a verdict (role, proposer, authentication level, the
            reviewer registry's qualification when the policy requires one).
        FailedPrecondition: VIEW_NOT_EXPECTED when the type is not in decide-first mode,
            VIEW_ALREADY_RECORDED, CASE_CHANGED, or as for a verdict (final, overdue, claimed
            by another, already reviewed).
        InvalidArgument: the output is over the size limit or outside the type's schema.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.decide")
    refuse_too_large(deployment, request.output, "output")
    async with deployment.store.transaction() as conn:
        d, policy, now = await locked_for_review(
            deployment, conn, principal, tenant, request.decision_id, request.seen_version
        )
        if not policy.decide_first:
            raise FailedPrecondition("VIEW_NOT_EXPECTED", decision_type=d.decision_type)
        await required_qualification(conn, tenant, principal, policy, now)
        if request.output:
            violations = schema_violations(policy, request.output, "output")
            if violations:
                raise InvalidArgument(violations)
        steps = await review_modes.reviewer_steps(conn, tenant, d.id, principal.id)
        if steps.view is not None:
            raise FailedPrecondition("VIEW_ALREADY_RECORDED", decision=d.id)
        data: dict[str, Any] = {
            "verdict": request.verdict.removeprefix("VERDICT_"),
            "output": request.output or None,
            "note": request.note,
            "version_shown": d.version,
        }
        event = NewEvent(VIEW_RECORDED, actor_of(principal), d.id, data)
        trace = current_trace_id()
        await trail.append_events(conn, tenant, [event], occurred_at=now, trace_id=trace)
    return await get_case(deployment, principal, CaseIn(tenant=tenant, decision_id=d.id))
