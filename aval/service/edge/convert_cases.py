"""Wire form of a case as its reviewer is shown it (Review.GetCase, Review.RecordView)."""

from __future__ import annotations

from aval.policies import PolicyBook, ReviewPolicy
from aval.service.decisions.cases import Case
from aval.service.decisions.review_modes import RecordedView
from aval.service.edge.convert import decision, struct, timestamp
from aval.texts import load, render
from aval.v1 import common_pb2, review_pb2
from aval.verifier.events import AuditEvent

HISTORY = load("case_history")


def case_policy(policy: ReviewPolicy, language: str) -> review_pb2.CasePolicy:
    return review_pb2.CasePolicy(
        revision=policy.revision,
        purpose=policy.purpose,
        required_approvals=policy.required_approvals,
        eligible_roles=list(policy.eligible_roles),
        allow_amend=policy.allow_amend,
        justification_required_for=sorted(policy.justification_required_for),
        output_schema=struct(policy.output_schema),
        input_fields=[
            review_pb2.InputField(
                name=f.name,
                label=f.label.text(language),
                help=f.help.text(language) if f.help is not None else "",
            )
            for f in policy.input_fields
        ],
        decide_first=policy.decide_first,
        blind_second_review=policy.blind_second_review,
        approver_acr=list(policy.approver_acr),
    )


def _summary(e: AuditEvent, actor: str, language: str) -> str:
    data = e.body.get("data")
    key = e.kind
    if e.kind == "review.recorded" and isinstance(data, dict):
        key = f"review.recorded.{data.get('verdict')}"
    if key not in HISTORY:
        return render(HISTORY, "other", language, kind=e.kind, actor=actor)
    return render(HISTORY, key, language, actor=actor)


def case_event(
    e: AuditEvent, names: dict[str, str], version: int, language: str
) -> review_pb2.CaseEvent:
    name = names.get(e.actor_id, "")
    return review_pb2.CaseEvent(
        kind=e.kind,
        occurred_at=timestamp(e.occurred_at),
        actor_id=e.actor_id,
        actor_name=name,
        version=version,
        summary=_summary(e, name or e.actor_id, language),
    )


def _history(case: Case, language: str) -> list[review_pb2.CaseEvent]:
    found, version = [], 0
    for e in case.history:
        data = e.body.get("data")
        stated = data.get("decision_version") if isinstance(data, dict) else None
        if isinstance(stated, int):
            version = stated
        found.append(case_event(e, case.names, version, language))
    return found


def _view(view: RecordedView | None) -> review_pb2.ReviewerView | None:
    if view is None:
        return None
    return review_pb2.ReviewerView(
        verdict=common_pb2.Verdict.Value(f"VERDICT_{view.verdict.value}"),
        output=struct(view.output),
        note=view.note,
        recorded_at=timestamp(view.recorded_at),
    )


def case(c: Case, policies: PolicyBook, language: str) -> review_pb2.GetCaseResponse:
    return review_pb2.GetCaseResponse(
        decision=decision(c.shown.decision, policies, language),
        policy=case_policy(c.policy, language) if c.policy is not None else None,
        history=_history(c, language),
        suggestion_withheld=c.shown.suggestion_withheld,
        verdicts_withheld=c.shown.verdicts_withheld,
        first_displayed_at=timestamp(c.first_displayed_at),
        own_view=_view(c.own_view),
    )
