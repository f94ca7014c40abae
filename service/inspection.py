"""QueryEvents, ExplainDecision and VerifyChain: what inspectors ask of the trail."""

from __future__ import annotations

from dataclasses import dataclass

from aval.audit_store import decisions, trail, verify
from aval.audit_store.records import AuditEvent, Decision

from .deployment import Deployment
from .errors import FieldViolation, InvalidArgument
from .explanation import explain_for_citizen, explain_for_inspector
from .identity import Principal
from .requests import ExplainIn, QueryEventsIn, TenantIn


async def query_events(
    deployment: Deployment, principal: Principal, request: QueryEventsIn
) -> tuple[list[AuditEvent], str]:
    """A page of events in sequence order and the token of the next page."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.query")
    after = 0
    if request.page_token:
        try:
            after = trail.decode_seq_token(request.page_token)
        except ValueError as exc:
            raise InvalidArgument([FieldViolation("page_token", "BAD_PAGE_TOKEN")]) from exc
    flt = trail.EventFilter(
        tenant_id=tenant,
        decision_id=request.decision_id,
        kind=request.kind or None,
        since=request.since,
        until=request.until,
    )
    async with deployment.store.reading() as conn:
        page = await trail.query_events(conn, flt, after_seq=after, limit=request.page_size + 1)
    more = len(page) > request.page_size
    page = page[: request.page_size]
    return page, trail.encode_seq_token(page[-1].seq) if more else ""


@dataclass(frozen=True)
class Explanation:
    text: str
    decision: Decision
    events: list[AuditEvent]


async def explain_decision(
    deployment: Deployment, principal: Principal, request: ExplainIn
) -> Explanation:
    """The decision's record and trail, rendered for an inspector or for the citizen."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.explain")
    async with deployment.store.reading() as conn:
        d = await decisions.get(conn, tenant, request.decision_id)
        events = await trail.query_events(
            conn, trail.EventFilter(tenant_id=tenant, decision_id=d.id), after_seq=0, limit=10_000
        )
    policy = deployment.policies.get(tenant, d.decision_type)
    if request.audience == "AUDIENCE_CITIZEN":
        text = explain_for_citizen(d, policy, request.language)
    else:
        text = explain_for_inspector(d, policy, events, request.language)
    return Explanation(text, d, events)


async def verify_chain(
    deployment: Deployment, principal: Principal, request: TenantIn
) -> verify.Report:
    """Verifies the tenant's chain and its decisions against their trail (I3)."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.verify")
    # One snapshot: events, chain head and decisions as of one instant, or concurrent writes
    # would look like tampering.
    async with deployment.store.snapshot() as conn:
        return await verify.verify_tenant(conn, tenant)
