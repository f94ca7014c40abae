"""The Audit service: inspectors query, explain and verify the trail."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aval.service.audit import (
    checkpointing,
    exporting,
    inspection,
    proofs,
    statistics,
    verification,
)
from aval.service.deployment import Deployment
from aval.service.edge import convert
from aval.service.edge.servicers.edge import Context, caller, streaming, unary
from aval.service.requests import (
    ExplainIn,
    ExportEventsIn,
    ProveConsistencyIn,
    ProveInclusionIn,
    QueryEventsIn,
    StatsIn,
    TenantIn,
    parse,
)
from aval.v1 import audit_pb2, audit_pb2_grpc


class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    @unary
    async def CreateCheckpoint(
        self, request: audit_pb2.CreateCheckpointRequest, context: Context
    ) -> audit_pb2.CreateCheckpointResponse:
        principal = caller(self.deployment, context)
        ask = parse(TenantIn, request)
        record = await checkpointing.create_checkpoint(self.deployment, principal, ask)
        return audit_pb2.CreateCheckpointResponse(checkpoint=convert.checkpoint(record))

    @unary
    async def ListCheckpoints(
        self, request: audit_pb2.ListCheckpointsRequest, context: Context
    ) -> audit_pb2.ListCheckpointsResponse:
        principal = caller(self.deployment, context)
        ask = parse(TenantIn, request)
        found, public_key = await checkpointing.list_checkpoints(self.deployment, principal, ask)
        return audit_pb2.ListCheckpointsResponse(
            checkpoints=[convert.checkpoint(c) for c in found], public_key=public_key
        )

    @unary
    async def ProveInclusion(
        self, request: audit_pb2.ProveInclusionRequest, context: Context
    ) -> audit_pb2.ProveInclusionResponse:
        principal = caller(self.deployment, context)
        ask = parse(ProveInclusionIn, request)
        found = await proofs.prove_inclusion(self.deployment, principal, ask)
        return convert.inclusion_proof(
            found.event, found.leaf_index, found.checkpoint, found.audit_path
        )

    @unary
    async def ProveConsistency(
        self, request: audit_pb2.ProveConsistencyRequest, context: Context
    ) -> audit_pb2.ProveConsistencyResponse:
        principal = caller(self.deployment, context)
        ask = parse(ProveConsistencyIn, request)
        found = await proofs.prove_consistency(self.deployment, principal, ask)
        return audit_pb2.ProveConsistencyResponse(
            old_checkpoint=convert.checkpoint(found.old),
            new_checkpoint=convert.checkpoint(found.new),
            proof=found.proof,
        )

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

    @streaming
    async def ExportEvents(
        self, request: audit_pb2.ExportEventsRequest, context: Context
    ) -> AsyncIterator[audit_pb2.ExportEventsResponse]:
        principal = caller(self.deployment, context)
        ask = parse(ExportEventsIn, request)
        # Closed as soon as this stream ends, stalled or not: it holds an export connection.
        async with contextlib.aclosing(
            exporting.export_events(self.deployment, principal, ask)
        ) as chunks:
            async for chunk in chunks:
                yield audit_pb2.ExportEventsResponse(chunk=chunk.data, events=chunk.events)

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
            proofs=[
                convert.inclusion_proof(event, event.seq - 1, found.checkpoint, path)
                for event, path in found.proofs
                if found.checkpoint is not None
            ],
        )

    @unary
    async def GetStats(
        self, request: audit_pb2.GetStatsRequest, context: Context
    ) -> audit_pb2.GetStatsResponse:
        principal = caller(self.deployment, context)
        ask = parse(StatsIn, request)
        rows = await statistics.get_stats(self.deployment, principal, ask)
        return audit_pb2.GetStatsResponse(rows=[audit_pb2.StatsRow(**r.fields()) for r in rows])

    @unary
    async def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: Context
    ) -> audit_pb2.VerifyChainResponse:
        principal = caller(self.deployment, context)
        ask = parse(verification.VerifyIn, request)
        report = await verification.verify_chain(self.deployment, principal, ask)
        return convert.verification_report(report)

    @streaming
    async def VerifyTrail(
        self, request: audit_pb2.VerifyTrailRequest, context: Context
    ) -> AsyncIterator[audit_pb2.VerifyTrailResponse]:
        principal = caller(self.deployment, context)
        ask = parse(verification.VerifyIn, request)
        async for update in verification.verify_with_progress(self.deployment, principal, ask):
            if isinstance(update, tuple):
                checked, total = update
                yield audit_pb2.VerifyTrailResponse(
                    progress=audit_pb2.VerificationProgress(
                        events_checked=checked, events_total=total
                    )
                )
            else:
                yield audit_pb2.VerifyTrailResponse(report=convert.verification_report(update))
