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
from dataclasses import dataclass
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

from .backends import AdviceRequest, BackendConfig, CallOutcome
from .deployment import Deployment, utc_now
from .errors import FailedPrecondition
from .requests import ProposeIn

# Reviewers read the detail with the flag; the trail keeps it. Bounded, like the backends' own.
_DETAIL_LIMIT = 300


@dataclass(frozen=True)
class AdviceResult:
    """What the decision holds (status, detail, suggestion) and the calls to record with it."""

    status: AdviceStatus
    detail: str = ""
    suggestion: Suggestion | None = None
    calls: tuple[AICall, ...] = ()

    def events(self, decision_id: uuid.UUID) -> list[NewEvent]:
        """One `ai.consulted` event per call: the shadow's answer is in the trail only here."""
        return [_consulted_event(decision_id, call) for call in self.calls]


def _consulted_event(decision_id: uuid.UUID, call: AICall) -> NewEvent:
    return NewEvent(
        kind="ai.consulted",
        actor=SYSTEM_ACTOR,
        decision_id=decision_id,
        data={
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
        return AdviceResult(AdviceStatus.STOPPED, _unregistered(policy.ai_system))
    refusal = _refusal(policy, plan)
    if refusal is not None:
        prevented = _prevented_call(plan, policy, decision_id, refusal)
        return AdviceResult(AdviceStatus.STOPPED, refusal, calls=(prevented,))
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
    if first.advice is None:
        return AdviceResult(AdviceStatus(first.status), _bounded(first.detail), calls=tuple(calls))
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


def _unregistered(name: str) -> str:
    return (
        f"the AI system {name!r} is not registered for this tenant "
        "(aval admin systems register); a human decides without a suggestion"
    )


def _refusal(policy: ReviewPolicy, plan: AdvicePlan) -> str | None:
    """Why no call may be made (English, for the flag and the trail), or None."""
    name = policy.ai_system
    if plan.stop is not None:
        stop = plan.stop
        what = {"TENANT": "all AI systems of the tenant", "DECISION_TYPE": "this decision type"}
        scope = what.get(stop.scope, f"the AI system {stop.target!r}")
        return (
            f"kill switch: {scope} stopped by {stop.stopped_by} at "
            f"{_iso(stop.stopped_at)}: {stop.reason}"
        )
    if not plan.system.enabled:
        return f"the AI system {name!r} is disabled in the registry"
    if policy.high_risk and plan.pinned is None:
        return (
            f"high-risk decision type: the AI system {name!r} has no pinned model version "
            "(aval admin pin), so it is not called"
        )
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
        api_key_env=system.api_key_env,
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
    plan: AdvicePlan, policy: ReviewPolicy, decision_id: uuid.UUID, detail: str
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
        started_at=utc_now(),
        latency_ms=0,
        attempts=0,
        input_tokens=None,
        output_tokens=None,
        energy_mwh=0,
        cost_micro_eur=0,
        output=None,
    )
