"""Supervisors work the queue: release a claim (holder only, audited, nothing written on a
refusal), and a queue that shows the AI's suggestion or « sans IA », Paris deadlines, the
decisions due soon first, and filters by claim and deadline — through the real server."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError, PermissionDeniedError
from tests.support import ServerProcess

from .conftest import ClientOf
from .helpers import PENDING, propose_kwargs, run_cli

pytestmark = pytest.mark.e2e

PARIS = ZoneInfo("Europe/Paris")


def _events(client: Client, decision_id: str) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, actor, data) of every event of a decision, oldest first."""
    page = client.query_events(decision_id=decision_id, page_size=500)
    return [(e.kind, e.actor_id, json_format.MessageToDict(e.data)) for e in page.events]


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_only_the_holder_releases_a_claim_and_a_colleague_may_then_take_it(
    client_of: ClientOf,
) -> None:
    app, sup1, sup2, insp = (client_of(p) for p in ("app-a", "sup-a1", "sup-a2", "insp-a"))
    d = app.propose(**propose_kwargs("voirie.signalement")).decision

    # Nobody holds it: there is nothing to release, and nothing is written.
    before = _events(insp, d.id)
    with pytest.raises(FailedPreconditionError) as refused:
        sup1.release(d.id)
    assert refused.value.reason == "NOT_CLAIMED"
    assert "n'est réservée par personne" in refused.value.localized

    assert sup1.claim(d.id).claim.claimed_by == "sup-a1"
    held = _events(insp, d.id)
    # A colleague cannot release it, nor can an application; neither writes anything.
    with pytest.raises(FailedPreconditionError) as other:
        sup2.release(d.id)
    assert other.value.reason == "CLAIMED_BY_ANOTHER"
    with pytest.raises(PermissionDeniedError):
        app.release(d.id)
    assert _events(insp, d.id) == held and len(held) == len(before) + 1

    released = sup1.release(d.id)
    assert not released.claim.claimed_by and released.state == PENDING
    kind, actor, data = _events(insp, d.id)[-1]
    assert (kind, actor, data["released_by"]) == ("decision.released", "sup-a1", "sup-a1")
    assert data["decision_version"] == released.version

    # Free again: the colleague takes it at once, and the first supervisor cannot release it.
    assert sup2.claim(d.id).claim.claimed_by == "sup-a2"
    with pytest.raises(FailedPreconditionError) as again:
        sup1.release(d.id)
    assert again.value.reason == "CLAIMED_BY_ANOTHER"
    verdict = sup2.decide(d.id, verdict="approve")
    assert verdict.state != PENDING
    with pytest.raises(FailedPreconditionError) as final:
        sup2.release(d.id)
    assert final.value.reason == "DECISION_FINAL"
    # The trail with its release event still verifies.
    assert insp.verify_chain().ok


def test_the_cli_releases_in_french(server: ServerProcess, client_of: ClientOf) -> None:
    d = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    _ok(run_cli(server.address, "sup-a1", "claim", d.id))
    refused = run_cli(server.address, "sup-a2", "release", d.id)
    assert refused.returncode != 0 and "réservée par" in refused.stderr
    out = _ok(run_cli(server.address, "sup-a1", "release", d.id))
    assert f"décision {d.id} libérée" in out
    again = run_cli(server.address, "sup-a1", "release", d.id)
    assert again.returncode != 0 and "n'est réservée par personne" in again.stderr


def _row(out: str, decision_id: str) -> str:
    return next(line for line in out.splitlines() if decision_id in line)


def test_the_queue_shows_suggestions_confidence_no_ai_paris_times_and_due_soon_first(
    server: ServerProcess, client_of: ClientOf
) -> None:
    app = client_of("app-a")
    with_ai = app.propose(**propose_kwargs("voirie.signalement", confidence=0.82)).decision
    kwargs = propose_kwargs("voirie.signalement", suggestion=None, confidence=None)
    kwargs.update(explanation="", model=None)
    without_ai = app.propose(**kwargs).decision
    later = app.propose(**propose_kwargs("aides.attribution")).decision

    # 3 days is within 100 hours, 30 days is not: the two signalements come first, marked.
    out = _ok(
        run_cli(server.address, "sup-a1", "queue", "list", "--page-size", "500", "--near", "100")
    )
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["URGENT", "DÉCISION"]
    ai_row, no_ai_row, later_row = (_row(out, d.id) for d in (with_ai, without_ai, later))
    assert ai_row.startswith("⚠ bientôt") and no_ai_row.startswith("⚠ bientôt")
    assert not later_row.startswith("⚠")
    assert lines.index(later_row) > max(lines.index(ai_row), lines.index(no_ai_row))
    assert '{"accord":true,"montant_centime…' in ai_row and "82\u00a0%" in ai_row
    assert "sans IA" in no_ai_row and "sans IA" not in ai_row
    deadline = with_ai.deadline.ToDatetime(tzinfo=UTC).astimezone(PARIS)
    assert f"{deadline:%d/%m/%Y %H:%M}" in ai_row
    utc_text = f"{with_ai.deadline.ToDatetime(tzinfo=UTC):%d/%m/%Y %H:%M}"
    assert deadline.utcoffset() == timedelta(0) or utc_text not in ai_row

    # With a threshold of 0 nothing is due soon; `decision show` gives the Paris deadline too.
    calm = _ok(
        run_cli(server.address, "sup-a1", "queue", "list", "--page-size", "500", "--near", "0")
    )
    assert not _row(calm, with_ai.id).startswith("⚠")
    shown = _ok(run_cli(server.address, "sup-a1", "decision", "show", with_ai.id))
    assert deadline.isoformat(timespec="seconds") in shown


def test_the_queue_filters_by_claim_deadline_and_type(
    server: ServerProcess, client_of: ClientOf
) -> None:
    app, sup1 = client_of("app-a"), client_of("sup-a1")
    mine = app.propose(**propose_kwargs("voirie.signalement")).decision
    other = app.propose(**propose_kwargs("voirie.signalement")).decision
    later = app.propose(**propose_kwargs("aides.attribution")).decision
    sup1.claim(mine.id)
    client_of("sup-a2").claim(other.id)

    claimed = sup1.list_queue(claimed_by_me=True, page_size=500).decisions
    assert mine.id in {d.id for d in claimed} and other.id not in {d.id for d in claimed}
    assert all(d.claim.claimed_by == "sup-a1" for d in claimed)

    soon = datetime.now(UTC) + timedelta(days=5)
    due = {d.id for d in sup1.list_queue(deadline_before=soon, page_size=500).decisions}
    assert {mine.id, other.id} <= due and later.id not in due

    typed = sup1.list_queue(decision_type="aides.attribution", page_size=500).decisions
    assert later.id in {d.id for d in typed} and mine.id not in {d.id for d in typed}

    # The same filters from the CLI: --mine, --due-before (Paris time when naive), --type.
    out = _ok(run_cli(server.address, "sup-a1", "queue", "list", "--mine", "--page-size", "500"))
    assert mine.id in out and other.id not in out and later.id not in out
    naive = f"{soon.astimezone(PARIS):%Y-%m-%dT%H:%M}"
    out = _ok(
        run_cli(
            server.address, "sup-a1", "queue", "list", "--due-before", naive, "--page-size", "500"
        )
    )
    assert mine.id in out and later.id not in out
    refused = run_cli(server.address, "sup-a1", "queue", "list", "--due-before", "demain")
    assert refused.returncode == 2
    sup1.release(mine.id)
    assert mine.id not in {d.id for d in sup1.list_queue(claimed_by_me=True).decisions}
