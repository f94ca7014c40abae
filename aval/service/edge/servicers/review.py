"""The Review service: supervisors list the queue, claim, and decide."""

from __future__ import annotations

from aval.service.decisions import reading, reviewing
from aval.service.deployment import Deployment
from aval.service.edge import convert
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import parse
from aval.service.requests.decisions import ClaimIn, DecideIn, ListQueueIn, ReleaseIn
from aval.v1 import review_pb2, review_pb2_grpc


@guarded
class ReviewServicer(review_pb2_grpc.ReviewServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def ListQueue(
        self, request: review_pb2.ListQueueRequest, context: Context
    ) -> review_pb2.ListQueueResponse:
        query = parse(ListQueueIn, request)
        page, token = await reading.list_queue(self.deployment, caller(), query)
        return review_pb2.ListQueueResponse(
            decisions=[convert.decision(d, self.deployment.policies) for d in page],
            next_page_token=token,
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
