"""Decide-first through the real server: the AI's suggestion is withheld from a reviewer
everywhere they can read the case until they recorded their own view; a verdict without a
view is refused; the trail keeps the view next to the verdict; other roles see everything."""

from __future__ import annotations

import pytest

from aval.clients.sdk.errors import FailedPreconditionError, InvalidArgumentError
from aval.v1 import review_pb2
from tests.e2e.helpers import Raw, propose_kwargs

from .cases import ClientOf, trail_of

pytestmark = pytest.mark.e2e


def _propose(client_of: ClientOf) -> str:
    kwargs = propose_kwargs(
        "avis.premier",
        input={"description": "dépôt sauvage devant l'école"},
        suggestion={"service": "proprete"},
    )
    return str(client_of("app-a").propose(**kwargs).decision.id)


def test_the_suggestion_is_withheld_until_the_reviewer_records_a_view(
    client_of: ClientOf,
) -> None:
    decision_id = _propose(client_of)
    sup = client_of("sup-a1")
    case = sup.get_case(decision_id)
    assert case.suggestion_withheld and not case.decision.HasField("suggestion")
    assert not case.HasField("own_view")
    # Every other door a supervisor has to the case withholds it too.
    read = sup.get_decision(decision_id)
    assert read.suggestion_withheld and not read.HasField("suggestion")
    rows = sup.list_queue(decision_type="avis.premier", page_size=500).decisions
    [row] = [d for d in rows if d.id == decision_id]
    assert row.suggestion_withheld and not row.HasField("suggestion")
    claimed = sup.claim(decision_id)
    assert claimed.suggestion_withheld and not claimed.HasField("suggestion")
    released = sup.release(decision_id)
    assert released.suggestion_withheld and not released.HasField("suggestion")
    watch = sup.watch_decision(decision_id, timeout=10)
    watched = next(watch)
    watch.close()
    assert watched.suggestion_withheld and not watched.HasField("suggestion")
    # Other roles are not reviewers: the inspector and the proposing application see it.
    for other in ("insp-a", "app-a"):
        theirs = client_of(other).get_decision(decision_id)
        assert theirs.suggestion.output["service"] == "proprete"
        assert not theirs.suggestion_withheld

    with pytest.raises(FailedPreconditionError) as refused:
        sup.decide(decision_id, verdict="approve")
    assert refused.value.reason == "VIEW_REQUIRED"
    assert "RecordView" in refused.value.localized and "avis" in refused.value.localized

    with pytest.raises(InvalidArgumentError) as bad:
        sup.record_view(decision_id, verdict="amend", output={"service": "piscine"})
    assert [v.field for v in bad.value.violations] == ["output.service"]

    seen = sup.record_view(
        decision_id,
        verdict="amend",
        output={"service": "voirie"},
        note="l'école est sur la voie publique",
        seen_version=released.version,
    )
    assert not seen.suggestion_withheld
    assert seen.decision.suggestion.output["service"] == "proprete"
    assert seen.own_view.output["service"] == "voirie"
    assert seen.own_view.note == "l'école est sur la voie publique"
    assert sup.get_decision(decision_id).HasField("suggestion")
    assert not sup.get_decision(decision_id).suggestion_withheld
    # A colleague who recorded nothing is still not shown it.
    assert client_of("sup-a2").get_case(decision_id).suggestion_withheld

    with pytest.raises(FailedPreconditionError) as twice:
        sup.record_view(decision_id, verdict="approve")
    assert twice.value.reason == "VIEW_ALREADY_RECORDED"

    final = sup.decide(decision_id, verdict="approve", seen_version=seen.decision.version)
    assert final.suggestion.output["service"] == "proprete"
    kinds = [(kind, actor) for kind, actor, _ in trail_of(client_of, decision_id)]
    assert kinds.index(("review.view_recorded", "sup-a1")) < kinds.index(
        ("review.recorded", "sup-a1")
    )
    [view] = [d for k, _, d in trail_of(client_of, decision_id) if k == "review.view_recorded"]
    assert view["verdict"] == "AMEND" and view["output"] == {"service": "voirie"}
    # The new steps are ordinary events of the trail: it still verifies, states included.
    assert client_of("insp-a").verify_chain().ok
    *_, last = client_of("insp-a").verify_trail()
    assert last.report.ok, last.report.problems


def test_a_view_is_only_asked_of_decide_first_types(client_of: ClientOf) -> None:
    kwargs = propose_kwargs("voirie.signalement")
    decision_id = client_of("app-a").propose(**kwargs).decision.id
    with pytest.raises(FailedPreconditionError) as refused:
        client_of("sup-a1").record_view(decision_id, verdict="approve")
    assert refused.value.reason == "VIEW_NOT_EXPECTED"


def test_a_view_needs_a_verdict(client_of: ClientOf, raw: Raw) -> None:
    decision_id = _propose(client_of)
    with pytest.raises(InvalidArgumentError) as refused:
        raw.call(
            raw.review.RecordView,
            review_pb2.RecordViewRequest(decision_id=decision_id),
            "sup-a1",
        )
    assert [v.field for v in refused.value.violations] == ["verdict"]
    with pytest.raises(InvalidArgumentError) as long_note:
        client_of("sup-a1").record_view(decision_id, verdict="approve", note="n" * 10_001)
    assert [v.field for v in long_note.value.violations] == ["note"]
