"""The Review service: supervisors list and watch the queue, read cases, claim, and decide."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aval.service.decisions import cases, queue_watch, reading, reviewing
from aval.service.deployment import Deployment
from aval.service.edge import convert, convert_cases
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import TenantIn, parse
from aval.service.requests.decisions import (
    CaseIn,
    ClaimIn,
    DecideIn,
    ListQueueIn,
    RecordViewIn,
    ReleaseIn,
)
from aval.v1 import review_pb2, review_pb2_grpc


@guarded
class ReviewServicer(review_pb2_grpc.ReviewServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def ListQueue(
        self, request: review_pb2.ListQueueRequest, context: Context
    ) -> review_pb2.ListQueueResponse:
        query = parse(ListQueueIn, request)
        page, token, counts = await reading.list_queue(self.deployment, caller(), query)
        return review_pb2.ListQueueResponse(
            decisions=[convert.decision(d, self.deployment.policies) for d in page],
            next_page_token=token,
            counts=review_pb2.QueueCounts(
                pending=counts.pending,
                near_deadline=counts.near_deadline,
                claimed_by_me=counts.claimed_by_me,
                claimed_by_me_near_deadline=counts.claimed_by_me_near_deadline,
            ),
        )

    async def Claim(
        self, request: review_pb2.ClaimRequest, context: Context
    ) -> review_pb2.ClaimResponse:
        d = await reviewing.claim(self.deployment, caller(), parse(ClaimIn, request))
        return review_pb2.ClaimResponse(decision=convert.decision(d, self.deployment.policies))

    async def Release(
        self, request: review_pb2.ReleaseRequest, context: Context
    ) -> review_pb2.ReleaseResponse:
        d = await reviewing.release(self.deployment, caller(), parse(ReleaseIn, request))
        return review_pb2.ReleaseResponse(decision=convert.decision(d, self.deployment.policies))

    async def Decide(
        self, request: review_pb2.DecideRequest, context: Context
    ) -> review_pb2.DecideResponse:
        verdict = parse(DecideIn, request)
        d = await reviewing.decide(self.deployment, caller(), verdict)
        return review_pb2.DecideResponse(
            decision=convert.decision(d, self.deployment.policies, verdict.language)
        )

    async def WatchQueue(
        self, request: review_pb2.WatchQueueRequest, context: Context
    ) -> AsyncIterator[review_pb2.WatchQueueResponse]:
        changes = queue_watch.watch_queue(self.deployment, caller(), parse(TenantIn, request))
        async for change in changes:
            yield review_pb2.WatchQueueResponse(
                decision_id=str(change.decision_id),
                change=change.change,
                version=change.version,
                occurred_at=convert.timestamp(change.occurred_at),
                decision_type=change.decision_type,
            )

    async def GetCase(
        self, request: review_pb2.GetCaseRequest, context: Context
    ) -> review_pb2.GetCaseResponse:
        query = parse(CaseIn, request)
        found = await cases.get_case(self.deployment, caller(), query)
        return convert_cases.case(found, self.deployment.policies, query.language)

    async def RecordView(
        self, request: review_pb2.RecordViewRequest, context: Context
    ) -> review_pb2.RecordViewResponse:
        found = await cases.record_view(self.deployment, caller(), parse(RecordViewIn, request))
        return review_pb2.RecordViewResponse(
            case=convert_cases.case(found, self.deployment.policies, "fr")
        )
