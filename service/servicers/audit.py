"""The Audit service: inspectors query, explain and verify the trail."""

from __future__ import annotations

from aval.v1 import audit_pb2, audit_pb2_grpc

from .. import convert, inspection
from ..deployment import Deployment
from ..requests import ExplainIn, QueryEventsIn, TenantIn, parse
from .edge import Context, caller, unary


class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    @unary
    async def QueryEvents(
        self, request: audit_pb2.QueryEventsRequest, context: Context
    ) -> audit_pb2.QueryEventsResponse:
        principal = caller(self.deployment, context)
        query = parse(QueryEventsIn, request)
        page, token = await inspection.query_events(self.deployment, principal, query)
        return audit_pb2.QueryEventsResponse(
            events=[convert.audit_event(e) for e in page], next_page_token=token
        )

    @unary
    async def ExplainDecision(
        self, request: audit_pb2.ExplainDecisionRequest, context: Context
    ) -> audit_pb2.ExplainDecisionResponse:
        principal = caller(self.deployment, context)
        ask = parse(ExplainIn, request)
        found = await inspection.explain_decision(self.deployment, principal, ask)
        return audit_pb2.ExplainDecisionResponse(
            text=found.text,
            decision=convert.decision(found.decision, self.deployment.policies, ask.language),
            events=[convert.audit_event(e) for e in found.events],
        )

    @unary
    async def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: Context
    ) -> audit_pb2.VerifyChainResponse:
        principal = caller(self.deployment, context)
        report = await inspection.verify_chain(self.deployment, principal, parse(TenantIn, request))
        return audit_pb2.VerifyChainResponse(
            ok=report.ok,
            events_checked=report.events_checked,
            decisions_checked=report.decisions_checked,
            head_hash=report.head_hash.hex(),
            problems=[
                audit_pb2.VerificationProblem(
                    kind=p.kind,
                    tenant=p.tenant_id,
                    seq=p.seq,
                    decision_id=p.decision_id,
                    detail=p.detail,
                )
                for p in report.problems
            ],
        )
