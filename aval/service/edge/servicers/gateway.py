"""The Gateway service: applications propose decisions and get or watch their outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aval.service.decisions import proposals, reading
from aval.service.deployment import Deployment
from aval.service.edge import convert
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import parse
from aval.service.requests.decisions import DecisionRef, ProposeIn
from aval.v1 import gateway_pb2, gateway_pb2_grpc


@guarded
class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def Propose(
        self, request: gateway_pb2.ProposeRequest, context: Context
    ) -> gateway_pb2.ProposeResponse:
        result = await proposals.propose(self.deployment, caller(), parse(ProposeIn, request))
        return gateway_pb2.ProposeResponse(
            decision=convert.decision(
                result.decision,
                self.deployment.policies,
                input_message=None if result.replayed else request.input,
            ),
            replayed=result.replayed,
        )

    async def GetDecision(
        self, request: gateway_pb2.GetDecisionRequest, context: Context
    ) -> gateway_pb2.GetDecisionResponse:
        ref = parse(DecisionRef, request)
        d = await reading.get_decision(self.deployment, caller(), ref)
        return gateway_pb2.GetDecisionResponse(
            decision=convert.decision(d, self.deployment.policies, ref.language)
        )

    async def WatchDecision(
        self, request: gateway_pb2.WatchDecisionRequest, context: Context
    ) -> AsyncIterator[gateway_pb2.WatchDecisionResponse]:
        ref = parse(DecisionRef, request)
        async for d in reading.watch_decision(self.deployment, caller(), ref):
            yield gateway_pb2.WatchDecisionResponse(
                decision=convert.decision(d, self.deployment.policies, ref.language)
            )
