"""The privacy officer's export of the access journal (SDK stream, `aval journal export`), and
what a hostile query of the journal gets: a plain refusal, nothing read (R13, I6)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError, PermissionDeniedError
from tests.support import ServerProcess

from ..helpers import propose_kwargs, run_cli
from .conftest import journal_of

pytestmark = pytest.mark.e2e

As = Callable[[str], Client]


def test_the_export_streams_every_matching_record_and_is_journaled_R13(
    as_: As, journal_server: ServerProcess
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    for _ in range(3):
        as_("sup-a2").get_decision(decision.id)
    officer = as_("dpo-a").with_purpose("registre annuel")
    exported = list(officer.export_access_journal(decision_id=decision.id, reader="sup-a2"))
    assert [(r.reader, r.action) for r in exported] == [("sup-a2", "decision.get")] * 3
    own = journal_of(officer, decision_id=decision.id, action="journal.export")
    assert [(r.reader, r.purpose) for r in own] == [("dpo-a", "registre annuel")]

    done = run_cli(journal_server.address, "dpo-a", "journal", "export", "--decision", decision.id)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["reader"] for line in lines if line["action"] == "decision.get"] == ["sup-a2"] * 3


@pytest.mark.parametrize("principal", ["insp-a", "sup-a1", "app-a", "admin-a", "dpo-b"])
def test_the_export_is_refused_to_all_but_the_tenants_privacy_officer_R13(
    as_: As, principal: str
) -> None:
    with pytest.raises(PermissionDeniedError):
        list(as_(principal).export_access_journal(tenant="ville-a"))


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"decision_id": "pas-un-uuid"}, "decision_id"),
        ({"page_token": "forgé"}, "page_token"),
        ({"page_size": 1001}, "page_size"),
        ({"reader": "x" * 201}, "reader"),
    ],
)
def test_a_bad_query_of_the_journal_is_invalid_argument_and_not_journaled_I6(
    as_: As, filters: dict[str, object], field: str
) -> None:
    officer = as_("dpo-a")
    before = len(journal_of(officer, reader="dpo-a", action="journal.query"))
    with pytest.raises(InvalidArgumentError) as refused:
        officer.query_access_journal(**filters)  # type: ignore[arg-type]
    assert [v.field for v in refused.value.violations] == [field]
    # One more: the first count (a query's row is written after its page is read), never the
    # refused query.
    assert len(journal_of(officer, reader="dpo-a", action="journal.query")) == before + 1
