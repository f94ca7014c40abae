"""A case as the case page shows it: built from GetCase, less nothing and plus nothing — what
the gateway withholds (decide-first, blind second review) is said, never guessed — and a
refusal of the gateway placed next to the field it names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format
from starlette.datastructures import FormData

from aval.clients.cli.queue_table import has_ai
from aval.clients.sdk.errors import AvalError
from aval.console.app import ROLE_NAMES
from aval.console.pages import amend_form
from aval.console.pages.showing import Field, input_fields, moment, output_text, struct_dict
from aval.console.sessions import Session
from aval.v1 import common_pb2, review_pb2

# The fields of a verdict form other than the amended output, which a refusal may name.
_FORM_FIELDS = ("justification", "note", "verdict")
# The actions whose form holds the output fields (amend; a decide-first view of an amendment).
_WITH_OUTPUT = ("amend", "view")


@dataclass(frozen=True)
class Refusal:
    """What the gateway refused in an action of the case page, for the page shown again."""

    action: str
    message: str
    # The refused fields: an output key ("" for the whole output) or a form field, → why.
    fields: dict[str, str] = field(default_factory=dict)
    case_changed: bool = False
    justification: str = ""
    note: str = ""
    # The output fields' values as posted, to show them again (not after CASE_CHANGED).
    posted: dict[str, str] | None = None

    @property
    def has_field_errors(self) -> bool:
        return bool(self.fields)


def refusal_of(error: AvalError, action: str, form: FormData, posted: Mapping[str, str]) -> Refusal:
    changed = error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CASE_CHANGED"
    fields: dict[str, str] = {}
    for violation in error.violations:
        key = amend_form.field_of(violation.field)
        if key is None and violation.field in _FORM_FIELDS:
            key = violation.field
        if key is not None and key not in fields:
            fields[key] = violation.text
    justification = form.get("justification")
    note = form.get("note")
    return Refusal(
        action=action,
        message=error.localized or error.message,
        fields={} if changed else fields,
        case_changed=changed,
        justification="" if changed or not isinstance(justification, str) else justification,
        note="" if changed or not isinstance(note, str) else note,
        posted=None if changed or action not in _WITH_OUTPUT else dict(posted),
    )


def schema_of(policy: review_pb2.CasePolicy) -> dict[str, Any] | None:
    return struct_dict(policy.output_schema) if policy.HasField("output_schema") else None


@dataclass(frozen=True)
class SuggestionView:
    output: str
    confidence: str
    explanation: str
    model: str
    factors: list[tuple[str, str, str]]
    sources: list[str]
    limits: list[str]


@dataclass(frozen=True)
class ReviewView:
    reviewer: str
    verdict: str
    justification: str
    amended: str
    at: str


@dataclass(frozen=True)
class EventView:
    at: str
    actor: str
    summary: str
    kind: str


@dataclass
class CaseView:
    """Everything case.html prints."""

    id: str
    decision_type: str
    subject_ref: str
    state: str
    version: int
    pending: bool
    fields: list[Field]
    with_ai: bool
    advice_detail: str
    suggestion: SuggestionView | None
    suggestion_withheld: bool
    verdicts_withheld: bool
    policy: review_pb2.CasePolicy
    deadline: str
    approvals: int
    roles: str
    reviews: list[ReviewView]
    history: list[EventView]
    claimed_by: str
    claim_mine: bool
    claim_until: str
    first_displayed: str
    own_view: tuple[str, str, str] | None
    needs_view: bool
    amend_fields: list[amend_form.AmendField]
    outcome: str
    notice: str
    # The id of the first field a refusal names (it takes the focus), else "".
    first_error: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _verdict(value: common_pb2.Verdict.ValueType) -> str:
    return common_pb2.Verdict.Name(value).removeprefix("VERDICT_").lower()


def _suggestion(d: common_pb2.Decision) -> SuggestionView | None:
    if not d.HasField("suggestion") or not has_ai(d):
        return None
    s = d.suggestion
    confidence = f"{round(s.confidence * 100)}\u202f%" if s.HasField("confidence") else ""
    model = "@".join(p for p in (s.model.name, s.model.version) if p)
    return SuggestionView(
        output=output_text(s.output),
        confidence=confidence,
        explanation=s.explanation,
        model=model,
        factors=[(f.name, f"{f.weight:+.2f}", f.value) for f in s.factors],
        sources=list(s.sources),
        limits=list(s.known_limits),
    )


def build(
    found: review_pb2.GetCaseResponse,
    session: Session,
    language: str,
    refusal: Refusal | None = None,
) -> CaseView:
    d, policy = found.decision, found.policy
    pending = d.state == common_pb2.DECISION_STATE_PENDING_REVIEW
    live_claim = d.HasField("claim") and d.claim.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(
        UTC
    )
    names = {e.actor_id: e.actor_name for e in found.history if e.actor_name}
    current = struct_dict(d.suggestion.output) if d.HasField("suggestion") else {}
    posted = refusal.posted if refusal is not None and refusal.action in _WITH_OUTPUT else None
    amend_fields = amend_form.fields(schema_of(policy), current, posted)
    view = CaseView(
        id=d.id,
        decision_type=d.decision_type,
        subject_ref=d.subject_ref,
        state=common_pb2.DecisionState.Name(d.state).removeprefix("DECISION_STATE_"),
        version=d.version,
        pending=pending,
        fields=input_fields(json_format.MessageToDict(d.input), policy.input_fields),
        with_ai=has_ai(d),
        advice_detail=d.advice_detail,
        suggestion=_suggestion(d),
        suggestion_withheld=found.suggestion_withheld,
        verdicts_withheld=found.verdicts_withheld,
        policy=policy,
        deadline=moment(d.deadline, language),
        approvals=d.approvals,
        roles=", ".join(ROLE_NAMES.get(language, {}).get(r, r) for r in policy.eligible_roles),
        reviews=[
            ReviewView(
                reviewer=names.get(r.reviewer_id, r.reviewer_id),
                verdict=_verdict(r.verdict),
                justification=r.justification,
                amended=output_text(r.amended_output) if r.HasField("amended_output") else "",
                at=moment(r.decided_at, language),
            )
            for r in d.reviews
        ],
        history=[
            EventView(
                moment(e.occurred_at, language), e.actor_name or e.actor_id, e.summary, e.kind
            )
            for e in found.history
        ],
        claimed_by=names.get(d.claim.claimed_by, d.claim.claimed_by) if live_claim else "",
        claim_mine=live_claim and d.claim.claimed_by == session.principal_id,
        claim_until=moment(d.claim.expires_at, language) if live_claim else "",
        first_displayed=moment(found.first_displayed_at, language),
        own_view=(
            (
                _verdict(found.own_view.verdict),
                found.own_view.note,
                moment(found.own_view.recorded_at, language),
            )
            if found.HasField("own_view")
            else None
        ),
        needs_view=pending and policy.decide_first and found.suggestion_withheld,
        amend_fields=amend_fields,
        outcome=output_text(d.outcome) if d.HasField("outcome") else "",
        notice=d.notice.text,
    )
    if refusal is not None and refusal.fields:
        _place_errors(view, refusal)
    return view


def _place_errors(view: CaseView, refusal: Refusal) -> None:
    """Maps the refused fields to the ids of the page's inputs; the first takes the focus."""
    order: list[str] = []
    if refusal.action in _WITH_OUTPUT:
        for f in view.amend_fields:
            if f.name in refusal.fields:
                view.errors[f.id] = refusal.fields[f.name]
                order.append(f.id)
    for name in _FORM_FIELDS:
        if name in refusal.fields:
            element = f"{refusal.action}-{name}"
            view.errors[element] = refusal.fields[name]
            order.append(element)
    leftovers = [
        text
        for key, text in refusal.fields.items()
        if key not in _FORM_FIELDS and all(f.name != key for f in view.amend_fields)
    ]
    if leftovers and refusal.action in _WITH_OUTPUT and view.amend_fields:
        first = view.amend_fields[0].id
        view.errors.setdefault(first, " ".join(leftovers))
        order.insert(0, first)
    view.first_error = order[0] if order else ""
