"""The Review service: supervisors list the queue, claim, and decide."""

from __future__ import annotations

from aval.service.decisions import reading, reviewing
from aval.service.deployment import Deployment
from aval.service.edge import convert
from aval.service.edge.servicers.edge import Context, caller, unary
from aval.service.requests import ClaimIn, DecideIn, ListQueueIn, parse
from aval.v1 import review_pb2, review_pb2_grpc


class ReviewServicer(review_pb2_grpc.ReviewServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    @unary
    async def ListQueue(
        self, request: review_pb2.ListQueueRequest, context: Context
    ) -> review_pb2.ListQueueResponse:
        principal = caller(self.deployment, context)
        query = parse(ListQueueIn, request)
        page, token = await reading.list_queue(self.deployment, principal, query)
        return review_pb2.ListQueueResponse(
            decisions=[convert.decision(d, self.deployment.policies) for d in page],
            next_page_token=token,
        )

    @unary
    async def Claim(
        self, request: review_pb2.ClaimRequest, context: Context
    ) -> review_pb2.ClaimResponse:
        principal = caller(self.deployment, context)
        d = await reviewing.claim(self.deployment, principal, parse(ClaimIn, request))
        return review_pb2.ClaimResponse(decision=convert.decision(d, self.deployment.policies))

    @unary
    async def Decide(
        self, request: review_pb2.DecideRequest, context: Context
    ) -> review_pb2.DecideResponse:
        principal = caller(self.deployment, context)
        verdict = parse(DecideIn, request)
        d = await reviewing.decide(self.deployment, principal, verdict)
        return review_pb2.DecideResponse(
            decision=convert.decision(d, self.deployment.policies, verdict.language)
        )
