"""QueryEvents, ExplainDecision and VerifyChain: what inspectors ask of the trail."""

from __future__ import annotations

from dataclasses import dataclass, field

from aval.audit_store import checkpoints, cosignatures, decisions, queries, query_sql, trail
from aval.audit_store.checkpoints import CheckpointRecord
from aval.audit_store.records import Decision, Verdict
from aval.service.audit import proofs
from aval.service.audit.access_journal import journal_read, summary
from aval.service.audit.explanation import explain_for_citizen
from aval.service.audit.explanation_inspector import EventProof, explain_for_inspector
from aval.service.audit.report_html import text_format
from aval.service.deployment import Deployment
from aval.service.errors import page_position
from aval.service.identity import Principal
from aval.service.requests.audit import ExplainIn, QueryEventsIn
from aval.verifier.events import AuditEvent


def event_query(
    deployment: Deployment, principal: Principal, request: QueryEventsIn
) -> query_sql.EventQuery:
    """The query a request asks for, once each of its tenants is known and granted (I5).

    The tenants are ``tenant`` and ``tenants`` together, or the caller's own when both are
    empty: only a principal granted ``audit.query`` in each of them (a pooled inspector) may
    read several at once.

    Raises:
        PermissionDenied: the caller may not query one of the tenants, or it does not exist
            (refused alike, I5).
        InvalidArgument: a tenant the caller is granted has no policies (named by its field,
            e.g. ``tenants[1]``).
    """
    asked = [("tenant", request.tenant)] if request.tenant else []
    asked += [(f"tenants[{i}]", name) for i, name in enumerate(request.tenants)]
    tenants = {
        deployment.tenant_for(principal, name, "audit.query", field)
        for field, name in asked or [("tenant", "")]
    }
    verdict = request.verdict.removeprefix("VERDICT_")
    return query_sql.EventQuery(
        tenants=tuple(sorted(tenants)),
        decision_id=request.decision_id,
        kind=request.kind or None,
        since=request.since,
        until=request.until,
        decision_type=request.decision_type or None,
        ai_system=request.ai_system or None,
        model_version=request.model_version or None,
        reviewer=request.reviewer or None,
        verdict=None if verdict == "UNSPECIFIED" else Verdict(verdict),
        overrode=request.overrode,
    )


def query_summary(request: QueryEventsIn) -> str:
    """The filters of an events query, for the access journal (R13)."""
    return summary(
        {
            "kind": request.kind,
            "since": request.since,
            "until": request.until,
            "decision_type": request.decision_type,
            "ai_system": request.ai_system,
            "model_version": request.model_version,
            "reviewer": request.reviewer,
            "verdict": request.verdict,
            "overrode": request.overrode,
            "page": bool(request.page_token),
        }
    )


async def query_events(
    deployment: Deployment, principal: Principal, request: QueryEventsIn
) -> tuple[list[AuditEvent], str]:
    """A page of events in (tenant, sequence) order and the token of the next page."""
    query = event_query(deployment, principal, request)
    after = page_position(request.page_token, query_sql.decode_cursor)
    async with deployment.store.reading() as conn:
        page, following = await queries.page(conn, query, after=after, size=request.page_size)
    await journal_read(
        deployment,
        principal,
        query.tenants,
        "events.query",
        decisions=[request.decision_id],
        filters=query_summary(request),
    )
    return page, query_sql.encode_cursor(following) if following else ""


@dataclass(frozen=True)
class Explanation:
    text: str
    decision: Decision
    events: list[AuditEvent]
    # (event, its audit path) against `checkpoint`, for the events it covers.
    proofs: list[tuple[AuditEvent, list[bytes]]] = field(default_factory=list)
    checkpoint: CheckpointRecord | None = None


async def explain_decision(
    deployment: Deployment, principal: Principal, request: ExplainIn
) -> Explanation:
    """The decision's record and trail, rendered for an inspector or for the citizen."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.explain")
    citizen = request.audience == "AUDIENCE_CITIZEN"
    async with deployment.store.snapshot() as conn:
        d = await decisions.get(conn, tenant, request.decision_id)
        events = await trail.query_events(
            conn, trail.EventFilter(tenant_id=tenant, decision_id=d.id), after_seq=0, limit=10_000
        )
        signed = None if citizen else await checkpoints.latest(conn, tenant)
        if signed is not None:  # its note carries the witnesses' cosignatures
            [signed] = await cosignatures.attach(conn, [signed])
        covered = [e for e in events if signed is not None and e.seq <= signed.tree_size]
        paths: list[list[bytes]] = []
        if signed is not None and covered:
            indexes = [e.seq - 1 for e in covered]
            paths = await proofs.inclusion_paths(conn, tenant, signed.tree_size, indexes)
    policy = deployment.policies.get(tenant, d.decision_type)
    await journal_read(
        deployment,
        principal,
        [tenant],
        "decision.explain",
        decisions=[d.id],
        filters=summary({"audience": request.audience}),
    )
    if citizen:
        text = explain_for_citizen(d, policy, request.language, text_format(request.format))
        return Explanation(text, d, events)
    shown = {
        e.seq: EventProof(
            seq=e.seq,
            leaf_index=e.seq - 1,
            tree_size=signed.tree_size,
            root_hash=signed.root_hash.hex(),
            audit_path=tuple(h.hex() for h in path),
        )
        for e, path in zip(covered, paths, strict=True)
        if signed is not None
    }
    text = explain_for_inspector(
        d, policy, events, request.language, text_format(request.format), proofs=shown
    )
    return Explanation(text, d, events, list(zip(covered, paths, strict=True)), signed)
