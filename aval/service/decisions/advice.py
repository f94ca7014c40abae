"""Asking the AI system a decision type names for its suggestion, before a proposal is held.

The suggestion only ever reaches a citizen through a human (I1): whatever happens here, the
proposal is recorded and goes to review. An AI failure, an output outside the decision type's
schema, a stop of the kill switch or a model the registry does not allow leaves the decision
without a valid suggestion, flagged with the reason, for a human to decide alone.

A candidate version in shadow mode is asked the same question at the same time; its answer is
recorded in the trail and in the AI calls, never in the decision (it is never shown to a
reviewer nor released).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aval.audit_store import registry
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import (
    SYSTEM_ACTOR,
    AdviceStatus,
    AICall,
    CallRole,
    Suggestion,
)
from aval.audit_store.registry import AdvicePlan, ModelVersionRecord
from aval.policies import ReviewPolicy
from aval.service.ai.backends import AdviceRequest, BackendConfig, CallOutcome
from aval.service.decisions.advice_texts import render
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition
from aval.service.requests.decisions import ProposeIn
from aval.verifier.chain import utc_iso

# Reviewers read the detail with the flag; the trail keeps it. Bounded, like the backends' own.
_DETAIL_LIMIT = 300


@dataclass(frozen=True)
class AdviceResult:
    """What the decision holds (status, detail, suggestion) and the calls to record with it."""

    status: AdviceStatus
    reason: str = ""  # see advice_texts; "" when there is a valid suggestion
    params: dict[str, Any] = field(default_factory=dict)
    suggestion: Suggestion | None = None
    calls: tuple[AICall, ...] = ()

    @property
    def detail(self) -> str:
        """The reason in English, as the trail records it."""
        return _bounded(render(self.reason, self.params, "en"))

    def events(self, decision_id: uuid.UUID) -> list[NewEvent]:
        """One `ai.consulted` event per call: the shadow's answer is in the trail only here."""
        return [_consulted_event(decision_id, call) for call in self.calls]


def _consulted_event(decision_id: uuid.UUID, call: AICall) -> NewEvent:
    return NewEvent(
        kind="ai.consulted",
        actor=SYSTEM_ACTOR,
        decision_id=decision_id,
        # Every column of the call's ai_calls row that anyone is shown, so that verification
        # compares the row with its event (docs/trail_facts.md); `call_id`, `decision_type`
        # and `started_at` since this version.
        data={
            "call_id": str(call.id),
            "decision_type": call.decision_type,
            "started_at": utc_iso(call.started_at),
            "ai_system": call.ai_system,
            "model_version": call.model_version,
            "role": call.role.value,
            "status": call.status.value,
            "detail": call.detail,
            "attempts": call.attempts,
            "latency_ms": call.latency_ms,
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "energy_mwh": call.energy_mwh,
            "cost_micro_eur": call.cost_micro_eur,
            "output": call.output,
        },
    )


async def check_attested_model(
    deployment: Deployment, tenant: str, policy: ReviewPolicy, request: ProposeIn
) -> None:
    """A high-risk decision type refuses an attested suggestion from a model the tenant's
    registry does not pin: the AI system must be registered and the version pinned.

    Raises:
        FailedPrecondition: naming the AI system, the version and how to register or pin it.
    """
    attested = request.attested_suggestion
    if not policy.high_risk or attested is None:
        return
    name, version = attested.model.name, attested.model.version
    if policy.ai_system and name != policy.ai_system:
        raise FailedPrecondition(
            "HIGH_RISK_MODEL_NOT_REGISTERED",
            ai_system=name,
            decision_type=policy.decision_type,
            expected=policy.ai_system,
        )
    async with deployment.store.reading() as conn:
        plan = await registry.advice_plan(conn, tenant, policy.decision_type, name)
    if plan is None:
        raise FailedPrecondition(
            "HIGH_RISK_MODEL_NOT_REGISTERED",
            ai_system=name,
            decision_type=policy.decision_type,
            expected=policy.ai_system or name,
        )
    if plan.system.pinned_version is None or plan.system.pinned_version != version:
        raise FailedPrecondition(
            "HIGH_RISK_MODEL_NOT_PINNED",
            ai_system=name,
            version=version,
            pinned=plan.system.pinned_version or "",
        )


async def seek_advice(
    deployment: Deployment,
    tenant: str,
    policy: ReviewPolicy,
    request: ProposeIn,
    decision_id: uuid.UUID,
) -> AdviceResult:
    """The suggestion for a proposal that brings none, from the AI system its type names."""
    if policy.ai_system is None:
        return AdviceResult(AdviceStatus.NONE)
    async with deployment.store.reading() as conn:
        plan = await registry.advice_plan(conn, tenant, policy.decision_type, policy.ai_system)
    if plan is None:  # nothing registered, so no AI call row can name a system's version
        return AdviceResult(
            AdviceStatus.STOPPED, "AI_SYSTEM_UNREGISTERED", {"ai_system": policy.ai_system}
        )
    refused = _refusal(policy, plan)
    if refused is not None:
        result = AdviceResult(AdviceStatus.STOPPED, *refused)
        prevented = _prevented_call(
            plan, policy, decision_id, result.detail, deployment.clock.now()
        )
        return dataclasses.replace(result, calls=(prevented,))
    config = _config(plan)
    question = AdviceRequest(
        tenant=tenant,
        decision_type=policy.decision_type,
        decision_id=decision_id,
        input=request.input,
        output_schema=policy.output_schema or {},
        model_version=plan.system.pinned_version or "",
        instructions=policy.purpose,
    )
    shadow = plan.shadow
    asked = [deployment.backends.suggest(config, question)]
    if shadow is not None:
        # Both answers are awaited so that both land in the proposal's transaction; the
        # shadow gets one attempt, so that it delays the proposal by one timeout at most.
        once = dataclasses.replace(config, max_attempts=1)
        asked.append(
            deployment.backends.suggest(
                once, dataclasses.replace(question, model_version=shadow.version)
            )
        )
    outcomes = await asyncio.gather(*asked)
    primary = _record(plan, policy, decision_id, CallRole.PRIMARY, plan.pinned, outcomes[0])
    calls = [primary]
    if shadow is not None:
        calls.append(_record(plan, policy, decision_id, CallRole.SHADOW, shadow, outcomes[1]))
    first = outcomes[0]
    if first.refusal:  # the egress policy prevented the call: nothing was sent
        return AdviceResult(
            AdviceStatus(first.status),
            f"AI_{first.refusal}",
            {"ai_system": plan.system.name},
            calls=tuple(calls),
        )
    if first.advice is None:
        return AdviceResult(
            AdviceStatus(first.status),
            "AI_ANSWER",
            {"detail": _bounded(first.detail)},
            calls=tuple(calls),
        )
    advice = first.advice
    suggestion = Suggestion(
        output=advice.output,
        confidence=advice.confidence,
        explanation=advice.explanation,
        model_name=plan.system.name,
        model_version=advice.model_version,
        factors=advice.factors,
        sources=advice.sources,
        known_limits=plan.pinned.known_limits if plan.pinned is not None else (),
    )
    return AdviceResult(AdviceStatus.SUGGESTED, suggestion=suggestion, calls=tuple(calls))


def _refusal(policy: ReviewPolicy, plan: AdvicePlan) -> tuple[str, dict[str, Any]] | None:
    """Why no call may be made (a reason of advice_texts and its parameters), or None."""
    name = policy.ai_system
    if plan.stop is not None:
        stop = plan.stop
        return "AI_STOPPED", {
            "scope": stop.scope,
            "target": stop.target,
            "stopped_by": stop.stopped_by,
            "stopped_at": _iso(stop.stopped_at),
            "why": stop.reason,
        }
    if not plan.system.enabled:
        return "AI_SYSTEM_DISABLED", {"ai_system": name}
    if policy.high_risk and plan.pinned is None:
        return "HIGH_RISK_UNPINNED", {"ai_system": name}
    return None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _bounded(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _config(plan: AdvicePlan) -> BackendConfig:
    system = plan.system
    kind: Any = system.kind
    return BackendConfig(
        tenant=system.tenant_id,
        name=system.name,
        kind=kind,
        endpoint=system.endpoint,
        model=system.model,
        api_key_secret=system.api_key_env,
        timeout=system.timeout_ms / 1000,
        max_attempts=system.max_attempts,
    )


def _record(
    plan: AdvicePlan,
    policy: ReviewPolicy,
    decision_id: uuid.UUID,
    role: CallRole,
    version: ModelVersionRecord | None,
    outcome: CallOutcome,
) -> AICall:
    energy, cost = registry.energy_and_cost(
        plan.system, outcome.input_tokens, outcome.output_tokens
    )
    answered = outcome.advice.model_version if outcome.advice is not None else ""
    return AICall(
        id=uuid.uuid4(),
        decision_id=decision_id,
        decision_type=policy.decision_type,
        ai_system=plan.system.name,
        model_version=answered or (version.version if version is not None else ""),
        role=role,
        status=AdviceStatus(outcome.status),
        detail=_bounded(outcome.detail),
        started_at=outcome.started_at,
        latency_ms=outcome.latency_ms,
        attempts=outcome.attempts,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        energy_mwh=energy,
        cost_micro_eur=cost,
        output=outcome.advice.output if outcome.advice is not None else None,
    )


def _prevented_call(
    plan: AdvicePlan, policy: ReviewPolicy, decision_id: uuid.UUID, detail: str, now: datetime
) -> AICall:
    return AICall(
        id=uuid.uuid4(),
        decision_id=decision_id,
        decision_type=policy.decision_type,
        ai_system=plan.system.name,
        model_version=plan.system.pinned_version or "",
        role=CallRole.PRIMARY,
        status=AdviceStatus.STOPPED,
        detail=_bounded(detail),
        started_at=now,
        latency_ms=0,
        attempts=0,
        input_tokens=None,
        output_tokens=None,
        energy_mwh=0,
        cost_micro_eur=0,
        output=None,
    )
