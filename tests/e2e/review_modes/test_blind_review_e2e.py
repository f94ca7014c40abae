"""Blind second review through the real server: a second approver is not shown the first
verdict (nor its count, nor its step in the history) until they gave their own; inspectors
see everything all along."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import propose_kwargs

from .cases import ClientOf

pytestmark = pytest.mark.e2e


def test_the_second_approver_sees_the_first_verdict_only_after_their_own(
    client_of: ClientOf,
) -> None:
    decision_id = client_of("app-a").propose(**propose_kwargs("aides.aveugle")).decision.id
    first, second = client_of("sup-a1"), client_of("sup-a2")
    assert not first.get_case(decision_id).verdicts_withheld  # nobody decided yet
    first.decide(
        decision_id, verdict="amend", amended_output={"accord": False}, justification="revenus"
    )

    case = second.get_case(decision_id)
    assert case.verdicts_withheld and not case.suggestion_withheld
    assert list(case.decision.reviews) == [] and case.decision.approvals == 0
    assert "review.recorded" not in [e.kind for e in case.history]
    assert case.decision.suggestion.output["accord"] is True
    read = second.get_decision(decision_id)
    assert read.verdicts_withheld and list(read.reviews) == [] and read.approvals == 0
    rows = second.list_queue(decision_type="aides.aveugle", page_size=500).decisions
    [row] = [d for d in rows if d.id == decision_id]
    assert list(row.reviews) == [] and row.approvals == 0
    # The first reviewer sees their own verdict; the inspector sees it too.
    assert [r.reviewer_id for r in first.get_case(decision_id).decision.reviews] == ["sup-a1"]
    inspected = client_of("insp-a").get_decision(decision_id)
    assert len(inspected.reviews) == 1 and not inspected.verdicts_withheld

    done = second.decide(decision_id, verdict="approve", seen_version=case.decision.version)
    assert sorted(r.reviewer_id for r in done.reviews) == ["sup-a1", "sup-a2"]
    after = second.get_case(decision_id)
    assert not after.verdicts_withheld
    assert [e.kind for e in after.history].count("review.recorded") == 2
