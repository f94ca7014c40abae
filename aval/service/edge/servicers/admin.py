"""The Admin service: administrators keep the registry of AI systems, pin versions with four
eyes, run shadows and the kill switch; administrators and inspectors read evaluation and usage."""

from __future__ import annotations

from aval.service.ai import administration, change_requests, oversight
from aval.service.decisions import reviewer_registry
from aval.service.deployment import Deployment
from aval.service.edge import convert, convert_reviewers
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import TenantIn, parse
from aval.service.requests.admin import (
    DecidePinIn,
    EvaluateIn,
    ListPinRequestsIn,
    ListWebhookDeliveriesIn,
    RequestPinIn,
    SetShadowIn,
    StopIn,
    UsageIn,
    parse_ai_system,
    parse_model_version,
)
from aval.service.requests.reviewers import (
    ListQualificationsIn,
    ReloadIn,
    RevokeQualificationIn,
    SetQualificationIn,
)
from aval.service.runtime import reloading
from aval.service.webhooks import listing as webhook_listing
from aval.v1 import admin_pb2, admin_pb2_grpc


@guarded
class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def RegisterAISystem(
        self, request: admin_pb2.RegisterAISystemRequest, context: Context
    ) -> admin_pb2.RegisterAISystemResponse:
        ask = parse_ai_system(request)
        done = await administration.register_system(self.deployment, caller(), ask)
        return admin_pb2.RegisterAISystemResponse(
            ai_system=convert.ai_system(done.registered),
            created=done.created,
            pending_change=convert.pin_request(done.pending) if done.pending is not None else None,
        )

    async def ListAISystems(
        self, request: admin_pb2.ListAISystemsRequest, context: Context
    ) -> admin_pb2.ListAISystemsResponse:
        found = await administration.list_systems(
            self.deployment, caller(), parse(TenantIn, request)
        )
        return admin_pb2.ListAISystemsResponse(ai_systems=[convert.ai_system(s) for s in found])

    async def RegisterModelVersion(
        self, request: admin_pb2.RegisterModelVersionRequest, context: Context
    ) -> admin_pb2.RegisterModelVersionResponse:
        ask = parse_model_version(request)
        registered = await administration.register_version(self.deployment, caller(), ask)
        return admin_pb2.RegisterModelVersionResponse(ai_system=convert.ai_system(registered))

    async def RequestPin(
        self, request: admin_pb2.RequestPinRequest, context: Context
    ) -> admin_pb2.RequestPinResponse:
        ask = parse(RequestPinIn, request)
        made = await change_requests.request_pin(self.deployment, caller(), ask)
        return admin_pb2.RequestPinResponse(pin_request=convert.pin_request(made))

    async def DecidePin(
        self, request: admin_pb2.DecidePinRequest, context: Context
    ) -> admin_pb2.DecidePinResponse:
        ask = parse(DecidePinIn, request)
        closed, registered = await change_requests.decide_pin(self.deployment, caller(), ask)
        return admin_pb2.DecidePinResponse(
            pin_request=convert.pin_request(closed), ai_system=convert.ai_system(registered)
        )

    async def ListPinRequests(
        self, request: admin_pb2.ListPinRequestsRequest, context: Context
    ) -> admin_pb2.ListPinRequestsResponse:
        ask = parse(ListPinRequestsIn, request)
        found = await change_requests.list_pins(self.deployment, caller(), ask)
        return admin_pb2.ListPinRequestsResponse(
            pin_requests=[convert.pin_request(r) for r in found]
        )

    async def SetShadow(
        self, request: admin_pb2.SetShadowRequest, context: Context
    ) -> admin_pb2.SetShadowResponse:
        ask = parse(SetShadowIn, request)
        registered = await administration.set_shadow(self.deployment, caller(), ask)
        return admin_pb2.SetShadowResponse(ai_system=convert.ai_system(registered))

    async def Stop(
        self, request: admin_pb2.StopRequest, context: Context
    ) -> admin_pb2.StopResponse:
        in_force, created = await oversight.stop(self.deployment, caller(), parse(StopIn, request))
        return admin_pb2.StopResponse(stop=convert.ai_stop(in_force), created=created)

    async def Resume(
        self, request: admin_pb2.ResumeRequest, context: Context
    ) -> admin_pb2.ResumeResponse:
        resumed = await oversight.resume(self.deployment, caller(), parse(StopIn, request))
        return admin_pb2.ResumeResponse(resumed=resumed)

    async def ListStops(
        self, request: admin_pb2.ListStopsRequest, context: Context
    ) -> admin_pb2.ListStopsResponse:
        found = await oversight.list_stops(self.deployment, caller(), parse(TenantIn, request))
        return admin_pb2.ListStopsResponse(stops=[convert.ai_stop(s) for s in found])

    async def Evaluate(
        self, request: admin_pb2.EvaluateRequest, context: Context
    ) -> admin_pb2.EvaluateResponse:
        found = await oversight.evaluate(self.deployment, caller(), parse(EvaluateIn, request))
        return admin_pb2.EvaluateResponse(versions=[convert.version_evaluation(e) for e in found])

    async def GetUsage(
        self, request: admin_pb2.GetUsageRequest, context: Context
    ) -> admin_pb2.GetUsageResponse:
        tenant, rows = await oversight.usage(self.deployment, caller(), parse(UsageIn, request))
        return admin_pb2.GetUsageResponse(rows=[convert.usage_row(tenant, r) for r in rows])

    async def ListWebhookDeliveries(
        self, request: admin_pb2.ListWebhookDeliveriesRequest, context: Context
    ) -> admin_pb2.ListWebhookDeliveriesResponse:
        ask = parse(ListWebhookDeliveriesIn, request)
        found = await webhook_listing.list_deliveries(self.deployment, caller(), ask)
        return admin_pb2.ListWebhookDeliveriesResponse(
            deliveries=[convert.webhook_delivery(e) for e in found]
        )

    async def SetReviewerQualification(
        self, request: admin_pb2.SetReviewerQualificationRequest, context: Context
    ) -> admin_pb2.SetReviewerQualificationResponse:
        ask = parse(SetQualificationIn, request)
        made, renewed = await reviewer_registry.set_qualification(self.deployment, caller(), ask)
        return admin_pb2.SetReviewerQualificationResponse(
            qualification=convert_reviewers.qualification(made),
            renewed=convert_reviewers.qualification(renewed) if renewed is not None else None,
        )

    async def RevokeReviewerQualification(
        self, request: admin_pb2.RevokeReviewerQualificationRequest, context: Context
    ) -> admin_pb2.RevokeReviewerQualificationResponse:
        ask = parse(RevokeQualificationIn, request)
        revoked = await reviewer_registry.revoke_qualification(self.deployment, caller(), ask)
        return admin_pb2.RevokeReviewerQualificationResponse(
            qualification=convert_reviewers.qualification(revoked)
        )

    async def ListReviewerQualifications(
        self, request: admin_pb2.ListReviewerQualificationsRequest, context: Context
    ) -> admin_pb2.ListReviewerQualificationsResponse:
        ask = parse(ListQualificationsIn, request)
        found = await reviewer_registry.list_qualifications(self.deployment, caller(), ask)
        return admin_pb2.ListReviewerQualificationsResponse(
            qualifications=[convert_reviewers.qualification(q) for q in found]
        )

    async def ReloadConfiguration(
        self, request: admin_pb2.ReloadConfigurationRequest, context: Context
    ) -> admin_pb2.ReloadConfigurationResponse:
        ask = parse(ReloadIn, request)
        done = await reloading.reload_configuration(self.deployment, caller(), ask)
        return admin_pb2.ReloadConfigurationResponse(
            parts=[convert_reviewers.configuration_part(p) for p in done.parts],
            changed=done.changed,
        )
