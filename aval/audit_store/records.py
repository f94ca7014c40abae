"""The records the store reads and writes: decisions, reviews and audit events."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonObject = dict[str, Any]


class DecisionState(enum.StrEnum):
    """The life of a decision; only APPROVED, AMENDED and REJECTED take effect."""

    PENDING_REVIEW = "PENDING_REVIEW"
    APPROVED = "APPROVED"
    AMENDED = "AMENDED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"

    @property
    def is_final(self) -> bool:
        return self is not DecisionState.PENDING_REVIEW

    @property
    def takes_effect(self) -> bool:
        return self in _EFFECTIVE


_EFFECTIVE = frozenset({DecisionState.APPROVED, DecisionState.AMENDED, DecisionState.REJECTED})


class Verdict(enum.StrEnum):
    """A human verdict on a suggestion."""

    APPROVE = "APPROVE"
    AMEND = "AMEND"
    REJECT = "REJECT"


class ActorType(enum.StrEnum):
    APPLICATION = "application"
    HUMAN = "human"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who did something: an application, a person, or the system itself."""

    id: str
    type: ActorType


SYSTEM_ACTOR = Actor(id="aval", type=ActorType.SYSTEM)


class AdviceStatus(enum.StrEnum):
    """Where a decision's suggestion comes from, or why there is none."""

    ATTESTED = "ATTESTED"
    SUGGESTED = "SUGGESTED"
    UNAVAILABLE = "UNAVAILABLE"
    INVALID_OUTPUT = "INVALID_OUTPUT"
    STOPPED = "STOPPED"
    NONE = "NONE"


@dataclass(frozen=True)
class Factor:
    """One term of the case and the weight it carried in a suggestion."""

    name: str
    weight: float
    value: str = ""

    def to_json(self) -> JsonObject:
        return {"name": self.name, "weight": self.weight, "value": self.value}

    @classmethod
    def from_json(cls, data: JsonObject) -> Factor:
        return cls(name=data["name"], weight=float(data["weight"]), value=data.get("value", ""))


@dataclass(frozen=True)
class Suggestion:
    """What an AI system suggested, produced by it or attested by the caller."""

    output: JsonObject
    confidence: float | None
    explanation: str
    model_name: str
    model_version: str
    factors: tuple[Factor, ...] = ()
    sources: tuple[str, ...] = ()
    # The model version's known limits from its registration, shown to reviewers.
    known_limits: tuple[str, ...] = ()

    def to_json(self) -> JsonObject:
        data: JsonObject = {
            "output": self.output,
            "confidence": self.confidence,
            "explanation": self.explanation,
            "model": {"name": self.model_name, "version": self.model_version},
        }
        # Only when present, so that attested suggestions keep their original shape.
        if self.factors:
            data["factors"] = [f.to_json() for f in self.factors]
        if self.sources:
            data["sources"] = list(self.sources)
        if self.known_limits:
            data["known_limits"] = list(self.known_limits)
        return data

    @classmethod
    def from_json(cls, data: JsonObject) -> Suggestion:
        model = data.get("model") or {}
        return cls(
            output=data["output"],
            confidence=data.get("confidence"),
            explanation=data.get("explanation", ""),
            model_name=model.get("name", ""),
            model_version=model.get("version", ""),
            factors=tuple(Factor.from_json(f) for f in data.get("factors", ())),
            sources=tuple(data.get("sources", ())),
            known_limits=tuple(data.get("known_limits", ())),
        )


@dataclass(frozen=True)
class Review:
    """One human verdict; unique per reviewer and decision."""

    reviewer_id: str
    reviewer_roles: tuple[str, ...]
    verdict: Verdict
    justification: str
    amended_output: JsonObject | None
    decided_at: datetime


@dataclass
class Decision:
    """A decision as the store holds it."""

    tenant_id: str
    id: uuid.UUID
    decision_type: str
    subject_ref: str
    state: DecisionState
    input: JsonObject
    input_sha256: str
    suggestion: Suggestion | None
    proposer_id: str
    idempotency_key: str
    request_sha256: str
    policy_revision: str
    required_approvals: int
    rejections_to_close: int
    created_at: datetime
    updated_at: datetime
    deadline: datetime
    approvals: int = 0
    rejections: int = 0
    # The output the approvals so far agree on: the suggestion, or the latest amendment.
    pending_output: JsonObject | None = None
    outcome: JsonObject | None = None
    finalized_at: datetime | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    trace_id: str = ""
    version: int = 1
    reviews: list[Review] = field(default_factory=list)
    advice_status: AdviceStatus = AdviceStatus.ATTESTED
    # Why there is no valid suggestion, in English (as in the trail); empty otherwise.
    advice_detail: str = ""
    # The same as a stable reason and its parameters, for other languages.
    advice_reason: str = ""
    advice_params: JsonObject = field(default_factory=dict)

    def claim_holder(self, now: datetime) -> str | None:
        """Who holds a live lease on this decision at `now`, if anyone."""
        if self.claimed_by and self.claim_expires_at and self.claim_expires_at > now:
            return self.claimed_by
        return None


class CallRole(enum.StrEnum):
    """PRIMARY: the suggestion reviewers see; SHADOW: a candidate version, recorded only."""

    PRIMARY = "PRIMARY"
    SHADOW = "SHADOW"


@dataclass(frozen=True)
class AICall:
    """One call to an AI system for a proposal (or one the kill switch or registry prevented)."""

    id: uuid.UUID
    decision_id: uuid.UUID
    decision_type: str
    ai_system: str
    model_version: str
    role: CallRole
    # SUGGESTED, UNAVAILABLE, INVALID_OUTPUT or STOPPED (no call made).
    status: AdviceStatus
    detail: str
    started_at: datetime
    latency_ms: int
    attempts: int
    input_tokens: int | None
    output_tokens: int | None
    energy_mwh: int
    cost_micro_eur: int
    # The valid suggestion's output, for agreement with the final human decision.
    output: JsonObject | None

    def to_row(self, tenant_id: str) -> JsonObject:
        """The ai_calls row, keyed by column, for jsonb_populate_recordset."""
        return {
            "tenant_id": tenant_id,
            "id": str(self.id),
            "decision_id": str(self.decision_id),
            "decision_type": self.decision_type,
            "ai_system": self.ai_system,
            "model_version": self.model_version,
            "role": self.role.value,
            "status": self.status.value,
            "detail": self.detail,
            "started_at": self.started_at.isoformat(),
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "energy_mwh": self.energy_mwh,
            "cost_micro_eur": self.cost_micro_eur,
            "output": self.output,
        }
