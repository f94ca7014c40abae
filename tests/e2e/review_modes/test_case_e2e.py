"""GetCase through the real server: the case with its policy, labels and history; the first
display is recorded once per reviewer and starts their time on task; reads are journaled;
only the tenant's supervisors may read cases."""

from __future__ import annotations

import pytest

from aval.clients.sdk.errors import PermissionDeniedError
from tests.e2e.helpers import propose_kwargs

from .cases import ClientOf, trail_of

pytestmark = pytest.mark.e2e


def _propose(client_of: ClientOf, decision_type: str = "avis.premier") -> str:
    kwargs = propose_kwargs(
        decision_type,
        input={"description": "lampadaire éteint rue des Lilas", "adresse": "rue des Lilas"},
        suggestion={"service": "eclairage"},
    )
    return str(client_of("app-a").propose(**kwargs).decision.id)


def test_a_case_carries_its_policy_labels_and_history(client_of: ClientOf) -> None:
    decision_id = _propose(client_of)
    case = client_of("sup-a1").get_case(decision_id, language="en")
    assert case.decision.id == decision_id
    policy = case.policy
    assert (policy.decide_first, policy.blind_second_review) == (True, False)
    assert policy.required_approvals == 1 and "supervisor" in policy.eligible_roles
    assert [(f.name, f.label) for f in policy.input_fields] == [
        ("description", "Report description")
    ]
    assert policy.output_schema["required"] == ["service"]
    assert policy.revision == case.decision.policy_revision
    kinds = [e.kind for e in case.history]
    assert kinds[0] == "decision.proposed" and kinds[-1] == "review.case_displayed"
    assert case.history[0].summary == "app-a submitted the decision for review."
    assert case.history[0].version == 1
    shown = case.history[-1]
    assert shown.actor_id == "sup-a1" and "shown to sup-a1" in shown.summary
    french = client_of("sup-a1").get_case(decision_id)
    assert french.policy.input_fields[0].label == "Description du signalement"
    assert french.history[0].summary == "app-a a soumis la décision à validation."


def test_the_first_display_is_recorded_once_and_the_verdict_counts_from_it(
    client_of: ClientOf,
) -> None:
    decision_id = _propose(client_of, "voirie.signalement")
    sup = client_of("sup-a1")
    first = sup.get_case(decision_id)
    again = sup.get_case(decision_id)
    assert first.first_displayed_at.ToDatetime() == again.first_displayed_at.ToDatetime()
    displays = [e for e in trail_of(client_of, decision_id) if e[0] == "review.case_displayed"]
    assert [actor for _, actor, _ in displays] == ["sup-a1"]
    assert displays[0][2] == {"version_shown": 1.0}

    sup.decide(decision_id, verdict="approve", seen_version=first.decision.version)
    [(_, _, verdict)] = [e for e in trail_of(client_of, decision_id) if e[0] == "review.recorded"]
    assert 0 <= verdict["seconds_on_task"] < 60


def test_a_verdict_without_a_display_carries_no_time_on_task(client_of: ClientOf) -> None:
    decision_id = _propose(client_of, "voirie.signalement")
    client_of("sup-a2").decide(decision_id, verdict="approve")
    [(_, _, verdict)] = [e for e in trail_of(client_of, decision_id) if e[0] == "review.recorded"]
    assert "seconds_on_task" not in verdict


def test_a_case_read_is_journaled_and_a_non_reviewer_records_no_display(
    client_of: ClientOf,
) -> None:
    decision_id = _propose(client_of, "voirie.signalement")
    client_of("sup-a3").get_case(decision_id)
    client_of("sup-a3").decide(decision_id, verdict="approve")
    # Once final, a case read is no display: no time on task can start any more.
    client_of("sup-a2").get_case(decision_id)
    displays = [e[1] for e in trail_of(client_of, decision_id) if e[0] == "review.case_displayed"]
    assert displays == ["sup-a3"]
    reads = client_of("dpo-a").query_access_journal(decision_id=decision_id, action="case.get")
    assert sorted(r.reader for r in reads.records) == ["sup-a2", "sup-a3"]


@pytest.mark.parametrize("principal", ["insp-a", "app-a", "admin-a", "dpo-a"])
def test_only_supervisors_read_cases(client_of: ClientOf, principal: str) -> None:
    decision_id = _propose(client_of, "voirie.signalement")
    with pytest.raises(PermissionDeniedError):
        client_of(principal).get_case(decision_id)
    assert not [e for e in trail_of(client_of, decision_id) if e[0] == "review.case_displayed"]


def test_a_supervisor_of_another_tenant_cannot_read_the_case(client_of: ClientOf) -> None:
    decision_id = _propose(client_of, "voirie.signalement")
    with pytest.raises(PermissionDeniedError):
        client_of("sup-b").get_case(decision_id, tenant="ville-a")
