"""The README walkthrough through the `aval` command line, its refusals, and `aval serve --demo`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import UnauthenticatedError
from tests.support import ServerProcess, token_of

from .helpers import APPROVED, run_cli

pytestmark = pytest.mark.e2e

INPUT = '{"quotient_familial": 640, "demande": "aide cantine"}'
SUGGESTION = '{"accord": true, "montant_centimes": 12000}'


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """The standard output of a command that must have succeeded."""
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


def one_line_refusal(done: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The single stderr line of a command that must have failed with `status`."""
    assert done.returncode == status, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    return lines[0]


def propose(address: str, principal: str | None, *extra: str, token: str | None = None) -> Any:
    out = ok(
        run_cli(
            address,
            principal,
            "--json",
            "propose",
            "--type",
            "aides.attribution",
            "--subject",
            "usager:42",
            "--input",
            INPUT,
            "--suggestion",
            SUGGESTION,
            "--confidence",
            "0.8",
            "--model",
            "bareme@2026.1",
            *extra,
            token=token,
        )
    )
    return json.loads(out)


def test_readme_walkthrough(server: ServerProcess) -> None:
    def cli(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(server.address, who, *args)

    proposed = propose(server.address, "app-a")
    assert proposed.get("replayed", False) is False
    decision = proposed["decision"]
    assert decision["state"] == "DECISION_STATE_PENDING_REVIEW"
    assert decision["suggestion"]["model"] == {"name": "bareme", "version": "2026.1"}
    assert decision["suggestion"]["confidence"] == 0.8
    assert decision["input"] == {"quotient_familial": 640, "demande": "aide cantine"}
    decision_id = decision["id"]

    shown = ok(cli("app-a", "decision", "show", decision_id))
    assert "en attente de validation" in shown and "0/2" in shown and decision_id in shown

    queue = ok(cli("sup-a1", "queue", "list", "--actionable", "--type", "aides.attribution"))
    assert decision_id in queue
    listed = json.loads(
        ok(
            cli(
                "sup-a1",
                "--json",
                "queue",
                "list",
                "--type",
                "aides.attribution",
                "--page-size",
                "500",
            )
        )
    )
    assert decision_id in [d["id"] for d in listed["decisions"]]

    assert "sup-a1" in ok(cli("sup-a1", "claim", decision_id))
    first = json.loads(ok(cli("sup-a1", "--json", "decide", decision_id, "--approve")))
    assert first["state"] == "DECISION_STATE_PENDING_REVIEW" and first["approvals"] == 1
    again = one_line_refusal(cli("sup-a1", "decide", decision_id, "--approve"))
    assert again.startswith("erreur") and "sup-a1" in again
    ok(cli("sup-a2", "decide", decision_id, "--approve", "--justification", "Barème appliqué"))

    shown = ok(cli("app-a", "decision", "show", decision_id))
    assert "approuvée" in shown and "2/2" in shown and "L311-3-1" in shown
    assert "sup-a1" in shown and "sup-a2" in shown and "Barème appliqué" in shown
    final = json.loads(ok(cli("app-a", "decision", "show", decision_id, "--json")))
    assert final["state"] == "DECISION_STATE_APPROVED"
    assert final["outcome"] == {"accord": True, "montant_centimes": 12000}
    english = ok(cli("app-a", "--lang", "en", "decision", "show", decision_id))
    assert "approved" in english and "This decision" in english

    events = ok(cli("insp-a", "audit", "events", "--decision", decision_id))
    for kind in ("decision.proposed", "decision.claimed", "review.recorded", "decision.finalized"):
        assert kind in events
    listed_events = json.loads(
        ok(cli("insp-a", "--json", "audit", "events", "--decision", decision_id))
    )
    assert [e["kind"] for e in listed_events["events"]] == [
        "decision.proposed",
        "decision.claimed",
        "review.recorded",
        "review.recorded",
        "decision.finalized",
    ]
    assert ok(cli("insp-a", "audit", "verify"))
    assert ok(cli("insp-a", "audit", "explain", decision_id, "--audience", "citizen")).strip()


def test_refusals_exit_non_zero_with_one_line(server: ServerProcess) -> None:
    decision_id = propose(server.address, "app-a")["decision"]["id"]

    line = one_line_refusal(run_cli(server.address, "sup-a1", "decide", decision_id, "--reject"))
    assert "justification" in line
    line = one_line_refusal(
        run_cli(server.address, "sup-a1", "--lang", "en", "decide", decision_id, "--reject")
    )
    assert line.startswith("error") and "justification" in line
    # Nothing was recorded by the refused verdict.
    with Client(server.address, token_of("app-a")) as app:
        assert not app.get_decision(decision_id).reviews

    line = one_line_refusal(run_cli(server.address, "app-a", "decision", "show", "pas-un-uuid"))
    assert "decision_id" in line
    line = one_line_refusal(run_cli(server.address, None, "decision", "show", decision_id))
    assert "AVAL_TOKEN" in line
    line = one_line_refusal(
        run_cli(server.address, None, "decision", "show", decision_id, token="faux-jeton")
    )
    assert line.startswith("erreur")
    line = one_line_refusal(run_cli(server.address, "insp-a", "propose", "--type", "x"), status=2)
    assert "--subject" in line
    line = one_line_refusal(run_cli("127.0.0.1:1", "app-a", "decision", "show", decision_id))
    assert "127.0.0.1:1" in line


def test_serve_demo_prints_working_tokens(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    demo = ServerProcess.start(
        new_database(), tmp_path_factory.mktemp("e2e-demo"), name="demo", demo=True
    )
    try:
        tokens = demo.read_exports(7)
        assert set(tokens) == {
            "AVAL_TOKEN_APP",
            "AVAL_TOKEN_SUPERVISOR_1",
            "AVAL_TOKEN_SUPERVISOR_2",
            "AVAL_TOKEN_INSPECTOR",
            "AVAL_TOKEN_ADMIN",
            "AVAL_TOKEN_ADMIN_2",
            "AVAL_TOKEN_PRIVACY_OFFICER",
        }
        assert all(len(t) >= 20 for t in tokens.values()) and len(set(tokens.values())) == 7

        with Client(demo.address, tokens["AVAL_TOKEN_APP"]) as app:
            d = app.propose(
                decision_type="voirie.signalement",
                subject_ref="signalement:1",
                input={"texte": "nid-de-poule rue de la Gare"},
                suggestion={"service": "voirie"},
                confidence=0.9,
                model="orienteur@1",
            ).decision
            assert d.tenant == "ville-demo" and d.required_approvals == 1
            ok(
                run_cli(
                    demo.address,
                    None,
                    "decide",
                    d.id,
                    "--approve",
                    token=tokens["AVAL_TOKEN_SUPERVISOR_1"],
                )
            )
            final = app.get_decision(d.id)
            assert final.state == APPROVED and final.reviews[0].reviewer_id == "agent-martin"
        with Client(demo.address, tokens["AVAL_TOKEN_PRIVACY_OFFICER"]) as officer:
            read = officer.query_access_journal(decision_id=d.id).records
            assert [(r.reader, r.action) for r in read] == [("app-demarches", "decision.get")]
        # Without a suggestion, the demo's own AI system (a real process) suggests one.
        proposed = run_cli(
            demo.address,
            None,
            "propose",
            "--type",
            "voirie.signalement",
            "--subject",
            "signalement:2",
            "--input",
            '{"description": "Le lampadaire de la rue des Lilas est éteint depuis hier soir"}',
            token=tokens["AVAL_TOKEN_APP"],
        )
        ok(proposed)
        assert '{"service": "eclairage"}' in proposed.stdout
        assert "suggestion du système d'IA enregistré" in proposed.stdout
        assert "Limite connue" in proposed.stdout and "mot « lampadaire »" in proposed.stdout
        ok(run_cli(demo.address, None, "audit", "verify", token=tokens["AVAL_TOKEN_INSPECTOR"]))
        # The demo knows only its own principals.
        with (
            Client(demo.address, token_of("app-a")) as stranger,
            pytest.raises(UnauthenticatedError),
        ):
            stranger.propose(decision_type="voirie.signalement", subject_ref="x", input={"a": 1})
    finally:
        status = demo.stop()
    assert status == 0, demo.log_path.read_text()
