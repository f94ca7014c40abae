"""`aval audit stats` and `aval audit explain --html` through the real server (R5, R6, R16)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from aval.clients.sdk.errors import PermissionDeniedError
from tests.support import ServerProcess

from .conftest import ClientOf
from .helpers import propose_kwargs, run_cli

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert('x')</script>"


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def tags_of(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


@pytest.fixture(scope="module")
def story(client_of: ClientOf) -> dict[str, Any]:
    """Four decisions of ville-a in a window of their own: sup-a1 approves two at once, sup-a2
    rejects one with a note holding a script, the last one waits for its second approval."""
    since = datetime.now(UTC) - timedelta(milliseconds=5)
    app, a1, a2 = client_of("app-a"), client_of("sup-a1"), client_of("sup-a2")
    model = "voirie-ia@e2e-stats"
    ids = [
        app.propose(**propose_kwargs("voirie.signalement", model=model)).decision.id
        for _ in range(3)
    ]
    a1.decide(ids[0], verdict="approve")
    a1.decide(ids[1], verdict="approve")
    a2.decide(ids[2], verdict="reject", justification=f"doublon {SCRIPT}")
    pending = app.propose(**propose_kwargs("aides.attribution")).decision.id
    a1.decide(pending, verdict="approve")
    time.sleep(0.01)
    until = datetime.now(UTC)
    return {"since": since, "until": until, "ids": ids, "pending": pending}


def window(story: dict[str, Any]) -> list[str]:
    return ["--since", story["since"].isoformat(), "--until", story["until"].isoformat()]


def by_key(rows: list[dict[str, Any]], dimension: str, key: str) -> dict[str, Any]:
    [found] = [r for r in rows if r["dimension"] == dimension and r["key"] == key]
    return found


def test_stats_json_gives_every_figure_R5_R6(server: ServerProcess, story: dict[str, Any]) -> None:
    out = ok(run_cli(server.address, "insp-a", "--json", "audit", "stats", *window(story)))
    rows = json.loads(out)["rows"]
    assert {r["tenant"] for r in rows} == {"ville-a"}
    tenant = by_key(rows, "tenant", "ville-a")
    counts = [int(tenant[k]) for k in ("decisions", "approved", "rejected", "pending", "expired")]
    assert counts == [4, 2, 1, 1, 0]
    assert tenant["overrideRate"] == pytest.approx(1 / 3)
    assert tenant["agreementRate"] == pytest.approx(3 / 4)  # 3 approvals of 4 verdicts
    assert 0 < tenant["timeToDecisionP50Seconds"] <= tenant["timeToDecisionP90Seconds"] < 60
    assert int(by_key(rows, "model", "voirie-ia@e2e-stats")["decisions"]) == 3
    a1, a2 = by_key(rows, "reviewer", "sup-a1"), by_key(rows, "reviewer", "sup-a2")
    assert (int(a1["verdicts"]), int(a1["approved"]), a1["rubberStamping"]) == (3, 3, True)
    assert (int(a2["verdicts"]), int(a2["rejected"]), a2["rubberStamping"]) == (1, 1, False)
    assert 0 < a1["reviewSecondsP50"] < 30
    # The thresholds come from the request: with 1 ms, nobody is fast enough to be flagged.
    strict = ok(
        run_cli(
            server.address, "insp-a", "--json", "audit", "stats", *window(story),
            "--review-seconds", "0.001",
        )
    )  # fmt: skip
    assert not any(r["rubberStamping"] for r in json.loads(strict)["rows"])


def test_stats_table_in_french_and_english(server: ServerProcess, story: dict[str, Any]) -> None:
    french = ok(run_cli(server.address, "insp-a", "audit", "stats", *window(story)))
    assert "Par agent" in french and "⚠ approbation machinale ?" in french
    assert "TAUX D'APPROBATION" in french and "100 %" in french
    english = ok(
        run_cli(server.address, "insp-a", "--lang", "en", "audit", "stats", *window(story))
    )
    assert "By reviewer" in english and "⚠ rubber-stamping?" in english
    line = next(x for x in english.splitlines() if x.startswith("sup-a1"))
    assert "100%" in line and "rubber-stamping" in line


def test_stats_html_report_is_self_contained(
    server: ServerProcess, story: dict[str, Any], tmp_path: Path
) -> None:
    report = tmp_path / "rapport.html"
    out = ok(
        run_cli(server.address, "insp-a", "audit", "stats", *window(story), "--html", str(report))
    )
    assert f"Rapport écrit dans {report}" in out
    page = report.read_text(encoding="utf-8")
    tags = tags_of(page)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert tags.count("svg") == 4 and "script" not in tags and "link" not in tags
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "Statistiques de validation humaine" in page and "Taux de dérogation" in page
    assert "<tr class=flag><td>sup-a1</td>" in page  # the flagged reviewer is highlighted
    assert "voirie-ia@e2e-stats" in page


def test_stats_across_tenants_only_for_a_pooled_inspector_I5(
    server: ServerProcess, client_of: ClientOf, story: dict[str, Any]
) -> None:
    refused = run_cli(server.address, "insp-a", "audit", "stats", "--tenants", "ville-a,ville-b")
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert "ville-b" in refused.stderr
    with pytest.raises(PermissionDeniedError):
        client_of("insp-b").get_stats(tenant="ville-a")
    pooled = client_of("insp-pool").get_stats(
        tenants=["ville-a", "ville-b"], since=story["since"], until=story["until"]
    )
    assert {r.tenant for r in pooled.rows} == {"ville-a"}  # ville-b had nothing in the window
    everything = client_of("insp-pool").get_stats(tenants=["ville-a", "ville-b"])
    assert {r.tenant for r in everything.rows} >= {"ville-a"}


def test_explain_html_for_the_citizen_and_the_inspector_R16(
    server: ServerProcess, story: dict[str, Any], tmp_path: Path
) -> None:
    rejected = story["ids"][2]
    citizen = tmp_path / "citoyen.html"
    out = ok(
        run_cli(
            server.address, "insp-a", "audit", "explain", rejected,
            "--audience", "citizen", "--html", str(citizen),
        )
    )  # fmt: skip
    assert str(citizen) in out
    page = citizen.read_text(encoding="utf-8")
    assert "Degré et mode de contribution" in page and "article L311-3-1" in page
    words = re.sub(r"\b[0-9a-f-]{36,64}\b", "", page)  # without the decision id and the hash
    assert "sup-a2" not in words and "doublon" not in words and "640" not in words
    inspector = tmp_path / "inspecteur.html"
    ok(run_cli(server.address, "insp-a", "audit", "explain", rejected, "--html", str(inspector)))
    record = inspector.read_text(encoding="utf-8")
    assert "<code>sup-a2</code>" in record
    assert "doublon &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in record
    assert "script" not in tags_of(record)
    markdown = ok(run_cli(server.address, "insp-a", "audit", "explain", rejected))
    assert r"doublon \<script\>" in markdown


def test_a_supervisor_sees_colleagues_flags_and_never_their_own_R12(
    server: ServerProcess, story: dict[str, Any]
) -> None:
    """R12: someone watches that review stays meaningful. A supervisor sees the reviewer rows
    (and rubber-stamping flags) of their colleagues; the flagged reviewer sees nothing about
    themselves, and nobody sees more than the reviewer rows without `audit.query`."""
    as_a2 = json.loads(
        ok(run_cli(server.address, "sup-a2", "--json", "audit", "stats", *window(story)))
    )["rows"]
    assert {r["dimension"] for r in as_a2} == {"reviewer"}
    assert by_key(as_a2, "reviewer", "sup-a1")["rubberStamping"] is True
    assert not [r for r in as_a2 if r["key"] == "sup-a2"]
    as_a1 = json.loads(
        ok(run_cli(server.address, "sup-a1", "--json", "audit", "stats", *window(story)))
    )["rows"]
    assert not [r for r in as_a1 if r["key"] == "sup-a1"], "the flagged one sees nothing"
    refused = run_cli(server.address, "sup-a1", "audit", "stats", "--tenant", "ville-b")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    app = run_cli(server.address, "app-a", "audit", "stats")
    assert app.returncode != 0
