"""The Audit service: inspectors query, explain and verify the trail."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aval.contract import verification_report
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
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import ListCheckpointsIn, TenantIn, parse
from aval.service.requests.audit import (
    ExplainIn,
    ExportEventsIn,
    ProveConsistencyIn,
    ProveInclusionIn,
    QueryEventsIn,
    StatsIn,
    VerifyIn,
)
from aval.v1 import audit_pb2, audit_pb2_grpc


@guarded
class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def CreateCheckpoint(
        self, request: audit_pb2.CreateCheckpointRequest, context: Context
    ) -> audit_pb2.CreateCheckpointResponse:
        ask = parse(TenantIn, request)
        record = await checkpointing.create_checkpoint(self.deployment, caller(), ask)
        key = checkpointing.verifier_key_text(self.deployment)
        return audit_pb2.CreateCheckpointResponse(checkpoint=convert.checkpoint(record, key))

    async def ListCheckpoints(
        self, request: audit_pb2.ListCheckpointsRequest, context: Context
    ) -> audit_pb2.ListCheckpointsResponse:
        ask = parse(ListCheckpointsIn, request)
        found, public_key = await checkpointing.list_checkpoints(self.deployment, caller(), ask)
        key = checkpointing.verifier_key_text(self.deployment)
        return audit_pb2.ListCheckpointsResponse(
            checkpoints=[convert.checkpoint(c, key) for c in found], public_key=public_key
        )

    async def ProveInclusion(
        self, request: audit_pb2.ProveInclusionRequest, context: Context
    ) -> audit_pb2.ProveInclusionResponse:
        ask = parse(ProveInclusionIn, request)
        found = await proofs.prove_inclusion(self.deployment, caller(), ask)
        key = checkpointing.verifier_key_text(self.deployment)
        return convert.inclusion_proof(
            found.event, found.leaf_index, found.checkpoint, found.audit_path, key
        )

    async def ProveConsistency(
        self, request: audit_pb2.ProveConsistencyRequest, context: Context
    ) -> audit_pb2.ProveConsistencyResponse:
        ask = parse(ProveConsistencyIn, request)
        found = await proofs.prove_consistency(self.deployment, caller(), ask)
        key = checkpointing.verifier_key_text(self.deployment)
        old = (
            convert.checkpoint(found.old, key)
            if found.old is not None
            else audit_pb2.Checkpoint(tenant=found.new.tenant_id, tree_size=found.old_size)
        )
        return audit_pb2.ProveConsistencyResponse(
            old_checkpoint=old,
            new_checkpoint=convert.checkpoint(found.new, key),
            proof=found.proof,
        )

    async def QueryEvents(
        self, request: audit_pb2.QueryEventsRequest, context: Context
    ) -> audit_pb2.QueryEventsResponse:
        query = parse(QueryEventsIn, request)
        page, token = await inspection.query_events(self.deployment, caller(), query)
        return audit_pb2.QueryEventsResponse(
            events=[convert.audit_event(e) for e in page], next_page_token=token
        )

    async def ExportEvents(
        self, request: audit_pb2.ExportEventsRequest, context: Context
    ) -> AsyncIterator[audit_pb2.ExportEventsResponse]:
        ask = parse(ExportEventsIn, request)
        # Closed as soon as this stream ends, stalled or not: it holds an export connection.
        async with contextlib.aclosing(
            exporting.export_events(self.deployment, caller(), ask)
        ) as chunks:
            async for chunk in chunks:
                yield audit_pb2.ExportEventsResponse(chunk=chunk.data, events=chunk.events)

    async def ExplainDecision(
        self, request: audit_pb2.ExplainDecisionRequest, context: Context
    ) -> audit_pb2.ExplainDecisionResponse:
        ask = parse(ExplainIn, request)
        found = await inspection.explain_decision(self.deployment, caller(), ask)
        return audit_pb2.ExplainDecisionResponse(
            text=found.text,
            decision=convert.decision(found.decision, self.deployment.policies, ask.language),
            events=[convert.audit_event(e) for e in found.events],
            proofs=[
                convert.inclusion_proof(
                    event,
                    event.seq - 1,
                    found.checkpoint,
                    path,
                    checkpointing.verifier_key_text(self.deployment),
                )
                for event, path in found.proofs
                if found.checkpoint is not None
            ],
        )

    async def GetStats(
        self, request: audit_pb2.GetStatsRequest, context: Context
    ) -> audit_pb2.GetStatsResponse:
        ask = parse(StatsIn, request)
        rows = await statistics.get_stats(self.deployment, caller(), ask)
        return audit_pb2.GetStatsResponse(rows=[audit_pb2.StatsRow(**r.fields()) for r in rows])

    async def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: Context
    ) -> audit_pb2.VerifyChainResponse:
        ask = parse(VerifyIn, request)
        report = await verification.verify_chain(self.deployment, caller(), ask)
        return verification_report(report)

    async def VerifyTrail(
        self, request: audit_pb2.VerifyTrailRequest, context: Context
    ) -> AsyncIterator[audit_pb2.VerifyTrailResponse]:
        ask = parse(VerifyIn, request)
        async for update in verification.verify_with_progress(self.deployment, caller(), ask):
            if isinstance(update, tuple):
                checked, total = update
                yield audit_pb2.VerifyTrailResponse(
                    progress=audit_pb2.VerificationProgress(
                        events_checked=checked, events_total=total
                    )
                )
            else:
                yield audit_pb2.VerifyTrailResponse(report=verification_report(update))
