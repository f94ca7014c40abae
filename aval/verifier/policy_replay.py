"""The review policy re-proved from a decision's events alone, as offline verification does it
(I1): what the events' bytes say, whatever any database says. `audit_store.verify_facts`
applies the same rules in SQL when verifying in the database; both name violations with
`violation`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aval.verifier.chain import parse_json
from aval.verifier.events import DECISION_EVENT_KINDS, AuditEvent

FINAL_STATES = frozenset({"APPROVED", "AMENDED", "REJECTED", "EXPIRED"})
_KINDS = frozenset(DECISION_EVENT_KINDS)


@dataclass(frozen=True)
class PolicyFacts:
    """What the policy's rules need of one decision's events, replayed."""

    state: str | None
    proposals: int
    required: int | None
    to_close: int | None
    approvers: int
    rejecters: int
    proposer_seq: int | None  # the first verdict of the proposer
    late_seq: int | None  # the first verdict at or after the deadline
    role_seq: int | None  # the first verdict from no eligible role recorded
    outcome_seq: int | None  # the last decision.finalized event


def violation(kind: str, j: PolicyFacts) -> tuple[str, int, str]:
    """A violation of the policy: its kind, the event where it shows (0: the decision as a
    whole) and a detail for the inspector."""
    at = j.outcome_seq or 0
    if kind == "approver_is_proposer":
        return kind, j.proposer_seq or 0, "the proposer gave a verdict on its own proposal"
    if kind == "verdict_after_deadline":
        return kind, j.late_seq or 0, "a verdict came at or after the recorded deadline"
    if kind == "verdict_role_not_eligible":
        return kind, j.role_seq or 0, "the reviewer held none of the eligible roles recorded"
    if kind == "policy_quorum_not_met":
        if j.proposals != 1:
            return kind, at, f"{j.proposals} decision.proposed events record the policy"
        if j.state == "REJECTED":
            return (
                kind,
                at,
                (f"REJECTED by {j.rejecters} distinct reviewer(s), {j.to_close} needed"),
            )
        return (
            kind,
            at,
            (
                f"{j.state} with {j.approvers} distinct approver(s); "
                f"its proposal required {j.required}"
            ),
        )
    if kind == "expired_with_outcome":
        return kind, at, "an expired decision has an outcome"
    return kind, at, f"the outcome of a {j.state} decision is not the suggestion or last amendment"


@dataclass
class _Replayed:
    proposals: int = 0
    proposer: str | None = None
    required: int | None = None
    to_close: int | None = None
    deadline: datetime | None = None
    suggested: Any = None
    state: str | None = None
    amendments: int = 0
    amendment: Any = None
    has_outcome_event: bool = False
    outcome: Any = None
    outcome_seq: int | None = None
    approvers: set[str] = field(default_factory=set)
    rejecters: set[str] = field(default_factory=set)
    # (seq, reviewer, when) of each verdict
    verdicts: list[tuple[int, str, datetime]] = field(default_factory=list)
    role_seq: int | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class PolicyReplay:
    """Replays the decisions' events fed in sequence order; `violations()` at the end."""

    def __init__(self) -> None:
        self._decisions: dict[str, _Replayed] = {}

    def feed(self, event: AuditEvent) -> None:
        """Takes one event; what it says is read from its hashed bytes, not its columns."""
        try:
            body = parse_json(event.canonical)
        except ValueError:  # the chain check names bytes that are not JSON
            return
        self.feed_body(event.seq, body)

    def feed_body(self, seq: int, body: Any) -> None:
        """Takes one event as its hashed bytes parsed (for a caller that parsed them)."""
        if not isinstance(body, dict) or body.get("kind") not in _KINDS:
            return
        data, actor = body.get("data"), body.get("actor")
        if not isinstance(data, dict) or not isinstance(actor, dict):
            return
        decision = self._decisions.setdefault(str(body.get("decision_id")), _Replayed())
        _apply(decision, seq, body["kind"], data, actor, _time(body.get("occurred_at")))

    def violations(self) -> dict[str, list[tuple[str, int, str]]]:
        """Each decision whose events break the review policy, with its violations."""
        found = {}
        for decision, replayed in sorted(self._decisions.items()):
            judged = _judge(replayed)
            if judged:
                found[decision] = judged
        return found


def _apply(
    d: _Replayed,
    seq: int,
    kind: str,
    data: dict[str, Any],
    actor: dict[str, Any],
    when: datetime | None,
) -> None:
    if "decision_state" in data:
        d.state = str(data["decision_state"])
    if kind == "decision.proposed":
        d.proposals += 1
        d.proposer = str(actor.get("id"))
        d.required, d.to_close = (
            _int(data.get("required_approvals")),
            _int(data.get("rejections_to_close")),
        )
        d.deadline = _time(data.get("deadline"))
        suggestion = data.get("suggestion")
        d.suggested = suggestion.get("output") if isinstance(suggestion, dict) else None
    elif kind == "review.recorded":
        reviewer, verdict = str(actor.get("id")), data.get("verdict")
        # a person or a principal with a reviewing role; never the service itself
        counted = actor.get("type") != "system"
        if verdict in ("APPROVE", "AMEND") and counted:
            d.approvers.add(reviewer)
        elif verdict == "REJECT" and counted:
            d.rejecters.add(reviewer)
        if verdict == "AMEND":
            d.amendments += 1
            d.amendment = data.get("amended_output")
        if when is not None:
            d.verdicts.append((seq, reviewer, when))
        eligible, roles = data.get("eligible_roles"), data.get("reviewer_roles")
        held = set(map(str, roles)) if isinstance(roles, list) else set()
        if isinstance(eligible, list) and d.role_seq is None and not held & set(map(str, eligible)):
            d.role_seq = seq
    elif kind == "decision.finalized":
        d.has_outcome_event = "outcome" in data
        d.outcome, d.outcome_seq = data.get("outcome"), seq


def _judge(d: _Replayed) -> list[tuple[str, int, str]]:
    """The same rules, in the same order, as `audit_store.verify_facts` in SQL."""
    proposer_seq = min((s for s, who, _ in d.verdicts if who == d.proposer), default=None)
    late_seq = None
    if d.deadline is not None:
        late_seq = min((s for s, _, at in d.verdicts if at >= d.deadline), default=None)
    facts = PolicyFacts(
        d.state,
        d.proposals,
        d.required,
        d.to_close,
        len(d.approvers),
        len(d.rejecters),
        proposer_seq,
        late_seq,
        d.role_seq,
        d.outcome_seq,
    )
    has_outcome = d.has_outcome_event and d.outcome is not None
    derived = d.amendment if d.amendments else d.suggested
    final = d.state in FINAL_STATES
    kinds = []
    if proposer_seq is not None:
        kinds.append("approver_is_proposer")
    if late_seq is not None:
        kinds.append("verdict_after_deadline")
    if d.role_seq is not None:
        kinds.append("verdict_role_not_eligible")
    effective = d.state in ("APPROVED", "AMENDED")
    if final and (
        d.proposals != 1
        or (effective and len(d.approvers) < max(d.required or 0, 1))
        or (d.state == "REJECTED" and len(d.rejecters) < max(d.to_close or 0, 1))
    ):
        kinds.append("policy_quorum_not_met")
    if d.state == "EXPIRED" and has_outcome:
        kinds.append("expired_with_outcome")
    amended_state = (d.state == "AMENDED") != (d.amendments > 0)
    if (effective and (d.outcome_seq is None or d.outcome != derived or amended_state)) or (
        d.state == "REJECTED" and has_outcome
    ):
        kinds.append("outcome_not_derived")
    return [violation(kind, facts) for kind in kinds]
