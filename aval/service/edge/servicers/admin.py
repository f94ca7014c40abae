"""The Admin service: administrators keep the registry of AI systems, pin versions with four
eyes, run shadows and the kill switch; administrators and inspectors read evaluation and usage."""

from __future__ import annotations

from google.protobuf import duration_pb2

from aval.audit_store.ai_usage import UsageRow, VersionEvaluation
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.registry import ModelVersionRecord, StopRecord
from aval.service.ai import administration, change_requests, oversight
from aval.service.ai.admin_requests import (
    DecidePinIn,
    EvaluateIn,
    ListPinRequestsIn,
    RequestPinIn,
    SetShadowIn,
    StopIn,
    UsageIn,
    parse_ai_system,
    parse_model_version,
)
from aval.service.ai.administration import RegisteredSystem
from aval.service.deployment import Deployment
from aval.service.edge.convert import timestamp
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import TenantIn, parse
from aval.v1 import admin_pb2, admin_pb2_grpc


def _milliseconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1_000_000))
    return duration


def _version(v: ModelVersionRecord) -> admin_pb2.ModelVersion:
    return admin_pb2.ModelVersion(
        version=v.version,
        instructions=admin_pb2.InstructionsForUse(
            intended_purpose=v.intended_purpose,
            known_limits=list(v.known_limits),
            accuracy_note=v.accuracy_note,
            metrics=v.metrics,
        ),
        registered_by=v.registered_by,
        registered_at=timestamp(v.registered_at),
    )


def ai_system(registered: RegisteredSystem) -> admin_pb2.AISystem:
    """The wire form of an AI system with its versions."""
    s = registered.system
    return admin_pb2.AISystem(
        tenant=s.tenant_id,
        name=s.name,
        kind=admin_pb2.BackendKind.Value(f"BACKEND_KIND_{s.kind}"),
        endpoint=s.endpoint,
        model=s.model,
        api_key_env=s.api_key_env,
        pinned_version=s.pinned_version or "",
        shadow_version=s.shadow_version or "",
        enabled=s.enabled,
        timeout=_milliseconds(s.timeout_ms),
        max_attempts=s.max_attempts,
        energy_mwh_per_1k_tokens=s.energy_mwh_per_1k_tokens,
        energy_mwh_per_call=s.energy_mwh_per_call,
        cost_micro_eur_per_1k_tokens=s.cost_micro_eur_per_1k_tokens,
        cost_micro_eur_per_call=s.cost_micro_eur_per_call,
        versions=[_version(v) for v in registered.versions],
        created_at=timestamp(s.created_at),
        updated_at=timestamp(s.updated_at),
    )


def _wire_value(field: str, value: str) -> str:
    return f"BACKEND_KIND_{value}" if field == "kind" else value


def pin_request(r: PinRequestRecord) -> admin_pb2.PinRequest:
    """The wire form of a pin request or configuration change request."""
    return admin_pb2.PinRequest(
        tenant=r.tenant_id,
        id=str(r.id),
        ai_system=r.ai_system,
        version=r.version,
        reason=r.reason,
        requested_by=r.requested_by,
        requested_at=timestamp(r.requested_at),
        state=admin_pb2.PinRequestState.Value(f"PIN_REQUEST_STATE_{r.state}"),
        decided_by=r.decided_by or "",
        decided_at=timestamp(r.decided_at),
        decision_reason=r.decision_reason,
        previous_version=r.previous_version or "",
        configuration_changes=[
            admin_pb2.ConfigurationChange(
                field=c.field,
                previous=_wire_value(c.field, c.previous),
                value=_wire_value(c.field, c.value),
            )
            for c in r.changes
        ],
    )


def ai_stop(s: StopRecord) -> admin_pb2.AIStop:
    """The wire form of a stop in force."""
    return admin_pb2.AIStop(
        tenant=s.tenant_id,
        scope=admin_pb2.StopScope.Value(f"STOP_SCOPE_{s.scope}"),
        target=s.target,
        reason=s.reason,
        stopped_by=s.stopped_by,
        stopped_at=timestamp(s.stopped_at),
    )


def _role(name: str) -> admin_pb2.CallRole.ValueType:
    return admin_pb2.CallRole.Value(f"CALL_ROLE_{name}")


def version_evaluation(e: VersionEvaluation) -> admin_pb2.VersionEvaluation:
    return admin_pb2.VersionEvaluation(
        model_version=e.model_version,
        role=_role(e.role),
        calls=e.calls,
        suggestions=e.suggestions,
        unavailable=e.unavailable,
        invalid_outputs=e.invalid_outputs,
        decided=e.decided,
        agreed=e.agreed,
        agreement_rate=e.agreement_rate,
        override_rate=e.override_rate,
        latency_p50=_milliseconds(e.latency_p50_ms),
        latency_p90=_milliseconds(e.latency_p90_ms),
        input_tokens=e.input_tokens,
        output_tokens=e.output_tokens,
        energy_mwh=e.energy_mwh,
        cost_micro_eur=e.cost_micro_eur,
    )


def usage_row(tenant: str, u: UsageRow) -> admin_pb2.UsageRow:
    return admin_pb2.UsageRow(
        tenant=tenant,
        decision_type=u.decision_type,
        ai_system=u.ai_system,
        model_version=u.model_version,
        role=_role(u.role),
        calls=u.calls,
        failures=u.failures,
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        total_latency=_milliseconds(u.total_latency_ms),
        energy_mwh=u.energy_mwh,
        cost_micro_eur=u.cost_micro_eur,
    )


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
            ai_system=ai_system(done.registered),
            created=done.created,
            pending_change=pin_request(done.pending) if done.pending is not None else None,
        )

    async def ListAISystems(
        self, request: admin_pb2.ListAISystemsRequest, context: Context
    ) -> admin_pb2.ListAISystemsResponse:
        found = await administration.list_systems(
            self.deployment, caller(), parse(TenantIn, request)
        )
        return admin_pb2.ListAISystemsResponse(ai_systems=[ai_system(s) for s in found])

    async def RegisterModelVersion(
        self, request: admin_pb2.RegisterModelVersionRequest, context: Context
    ) -> admin_pb2.RegisterModelVersionResponse:
        ask = parse_model_version(request)
        registered = await administration.register_version(self.deployment, caller(), ask)
        return admin_pb2.RegisterModelVersionResponse(ai_system=ai_system(registered))

    async def RequestPin(
        self, request: admin_pb2.RequestPinRequest, context: Context
    ) -> admin_pb2.RequestPinResponse:
        ask = parse(RequestPinIn, request)
        made = await change_requests.request_pin(self.deployment, caller(), ask)
        return admin_pb2.RequestPinResponse(pin_request=pin_request(made))

    async def DecidePin(
        self, request: admin_pb2.DecidePinRequest, context: Context
    ) -> admin_pb2.DecidePinResponse:
        ask = parse(DecidePinIn, request)
        closed, registered = await change_requests.decide_pin(self.deployment, caller(), ask)
        return admin_pb2.DecidePinResponse(
            pin_request=pin_request(closed), ai_system=ai_system(registered)
        )

    async def ListPinRequests(
        self, request: admin_pb2.ListPinRequestsRequest, context: Context
    ) -> admin_pb2.ListPinRequestsResponse:
        ask = parse(ListPinRequestsIn, request)
        found = await change_requests.list_pins(self.deployment, caller(), ask)
        return admin_pb2.ListPinRequestsResponse(pin_requests=[pin_request(r) for r in found])

    async def SetShadow(
        self, request: admin_pb2.SetShadowRequest, context: Context
    ) -> admin_pb2.SetShadowResponse:
        ask = parse(SetShadowIn, request)
        registered = await administration.set_shadow(self.deployment, caller(), ask)
        return admin_pb2.SetShadowResponse(ai_system=ai_system(registered))

    async def Stop(
        self, request: admin_pb2.StopRequest, context: Context
    ) -> admin_pb2.StopResponse:
        in_force, created = await oversight.stop(self.deployment, caller(), parse(StopIn, request))
        return admin_pb2.StopResponse(stop=ai_stop(in_force), created=created)

    async def Resume(
        self, request: admin_pb2.ResumeRequest, context: Context
    ) -> admin_pb2.ResumeResponse:
        resumed = await oversight.resume(self.deployment, caller(), parse(StopIn, request))
        return admin_pb2.ResumeResponse(resumed=resumed)

    async def ListStops(
        self, request: admin_pb2.ListStopsRequest, context: Context
    ) -> admin_pb2.ListStopsResponse:
        found = await oversight.list_stops(self.deployment, caller(), parse(TenantIn, request))
        return admin_pb2.ListStopsResponse(stops=[ai_stop(s) for s in found])

    async def Evaluate(
        self, request: admin_pb2.EvaluateRequest, context: Context
    ) -> admin_pb2.EvaluateResponse:
        found = await oversight.evaluate(self.deployment, caller(), parse(EvaluateIn, request))
        return admin_pb2.EvaluateResponse(versions=[version_evaluation(e) for e in found])

    async def GetUsage(
        self, request: admin_pb2.GetUsageRequest, context: Context
    ) -> admin_pb2.GetUsageResponse:
        tenant, rows = await oversight.usage(self.deployment, caller(), parse(UsageIn, request))
        return admin_pb2.GetUsageResponse(rows=[usage_row(tenant, r) for r in rows])
