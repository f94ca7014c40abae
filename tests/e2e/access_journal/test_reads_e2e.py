"""Every read of a decision leaves exactly one row in the access journal, readable by a privacy
officer only (R13, CNIL deliberation 2021-122), through the real server."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import PermissionDeniedError
from tests.support import ServerProcess

from ..helpers import propose_kwargs, run_cli
from .conftest import journal_of

pytestmark = pytest.mark.e2e

As = Callable[[str], Client]
WHY = "contrôle n° 12 — vérification « interne »"


def test_n_reads_give_exactly_n_rows_with_reader_action_target_and_purpose_R13(as_: As) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    supervisor = as_("sup-a1").with_purpose(WHY)
    for _ in range(3):
        supervisor.get_decision(decision.id)
    as_("app-a").get_decision(decision.id)
    inspector = as_("insp-a").with_purpose("audit annuel")
    inspector.explain_decision(decision.id)
    inspector.query_events(decision_id=decision.id)
    list(inspector.export_events(decision_id=decision.id))
    with contextlib.closing(as_("sup-a2").watch_decision(decision.id, timeout=5)) as watch:
        next(watch)

    rows = journal_of(as_("dpo-a"), decision_id=decision.id)

    seen = Counter((r.reader, r.reader_kind, r.action, r.purpose) for r in rows)
    assert seen == Counter(
        {
            ("sup-a1", "human", "decision.get", WHY): 3,
            ("app-a", "application", "decision.get", ""): 1,
            ("insp-a", "human", "decision.explain", "audit annuel"): 1,
            ("insp-a", "human", "events.query", "audit annuel"): 1,
            ("insp-a", "human", "events.export", "audit annuel"): 1,
            ("sup-a2", "human", "decision.watch", ""): 1,
        }
    )
    assert {r.decision_id for r in rows} == {decision.id}
    assert {(r.tenant, r.outcome) for r in rows} == {("ville-a", "served")}
    assert [r.at.ToDatetime() for r in rows] == sorted(r.at.ToDatetime() for r in rows)
    # The filters say what was asked, never what was read: no input, no subject reference.
    for r in rows:
        assert decision.subject_ref not in r.filters and "quotient" not in r.filters


def test_a_queue_page_journals_each_decision_it_shows_R13(as_: As) -> None:
    shown = [
        as_("app-a").propose(**propose_kwargs("sans.amendement")).decision.id for _ in range(2)
    ]
    page = as_("sup-a3").list_queue(decision_type="sans.amendement", page_size=500)
    listed = {d.id for d in page.decisions}
    assert set(shown) <= listed
    for decision_id in shown:
        rows = journal_of(as_("dpo-a"), decision_id=decision_id, reader="sup-a3")
        assert [(r.action, r.filters) for r in rows] == [
            (
                "queue.list",
                '{"actionable_only":false,"claimed_by_me":false,"decision_type":"sans.amendement",'
                '"not_seen_by_me":false}',
            )
        ]


def test_reading_the_journal_is_journaled_R13(as_: As) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    officer = as_("dpo-a").with_purpose("demande de droit d'accès")
    assert journal_of(officer, decision_id=decision.id) == []
    rows = journal_of(officer, decision_id=decision.id)
    assert [(r.reader, r.action, r.purpose) for r in rows] == [
        ("dpo-a", "journal.query", "demande de droit d'accès")
    ]


@pytest.mark.parametrize("principal", ["insp-a", "sup-a1", "app-a", "admin-a", "dpo-b"])
def test_the_journal_is_refused_to_all_but_the_tenants_privacy_officer_R13_I5(
    as_: As, principal: str
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").get_decision(decision.id)
    with pytest.raises(PermissionDeniedError) as refused:
        as_(principal).query_access_journal(tenant="ville-a", decision_id=decision.id)
    assert refused.value.reason == "NOT_GRANTED"
    # The refused read of the journal is not journaled: only the supervisor's read is there.
    rows = journal_of(as_("dpo-a"), decision_id=decision.id)
    assert [(r.reader, r.action) for r in rows] == [("sup-a1", "decision.get")]


def test_reads_change_no_statistic_R13(as_: As) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(decision.id, verdict="approve")
    inspector = as_("insp-a")
    window = {"since": decision.created_at.ToDatetime(tzinfo=UTC)}
    before = inspector.get_stats(**window)
    assert before.rows, "the window holds the approved decision"
    for reader in ("sup-a1", "sup-a2", "insp-a", "app-a"):
        for _ in range(5):
            as_(reader).get_decision(decision.id)
    as_("sup-a1").list_queue(page_size=500)
    inspector.explain_decision(decision.id)
    assert inspector.get_stats(**window) == before


def test_cli_journal_list_in_french_with_purpose_R13(
    as_: As, journal_server: ServerProcess
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    read = run_cli(
        journal_server.address, "sup-a1", "--purpose", "dossier 42", "decision", "show", decision.id
    )
    assert read.returncode == 0, read.stderr
    done = run_cli(journal_server.address, "dpo-a", "journal", "list", "--decision", decision.id)
    assert done.returncode == 0, done.stderr
    assert "sup-a1" in done.stdout and "decision.get" in done.stdout
    assert "dossier 42" in done.stdout and "LECTEUR" in done.stdout
    refused = run_cli(journal_server.address, "insp-a", "journal", "list")
    assert refused.returncode != 0 and "n'a pas le droit" in refused.stderr
