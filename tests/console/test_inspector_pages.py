"""The inspectors' pages through a real server and PostgreSQL, as a browser without
JavaScript uses them: search, dossier, the citizen's explanation, verification (with its
server-sent progress), statistics and downloads; only inspectors, only their tenants, and
citizen text always shown as text."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import tarfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aval.clients import Client
from aval.console.pages.inspector import PAGE_SIZE
from aval.verifier import merkle
from aval.verifier.bundle import verify_bundle
from aval.verifier.notes import parse_note, verify_signature
from tests.console.support import Visitor
from tests.e2e.test_tamper_e2e import tampered
from tests.support import ServerProcess, token_of

pytestmark = pytest.mark.e2e

# Markup, template syntax, a right-to-left override and a zero-width space, as a citizen
# (or an application relaying them) might send.
HOSTILE = "<script>alert(1)</script> {{7*7}} \u202eevil\u200b"
NAME_FIELD = f"nom {HOSTILE}"


@dataclass(frozen=True)
class World:
    server: ServerProcess
    approved: str  # voirie.signalement, approved by sup-a1, with hostile input
    rejected: str  # voirie.signalement, rejected by sup-a1 (a human overrode the AI)
    other_tenant: str  # a decision of ville-b


def _propose(app: Client, **changes: Any) -> str:
    kwargs: dict[str, Any] = {
        "decision_type": "voirie.signalement",
        "subject_ref": "usager:console-insp",
        "input": {NAME_FIELD: HOSTILE, "objet": "nid-de-poule"},
        "suggestion": {"service": "voirie"},
        "confidence": 0.9,
        "explanation": f"mots-clés {HOSTILE}",
        "model": "tri-courrier@2026.2",
        **changes,
    }
    return str(app.propose(**kwargs).decision.id)


@pytest.fixture(scope="module")
def world(console_server: tuple[ServerProcess, str]) -> Iterator[World]:
    server = console_server[0]

    def client(principal: str) -> Client:
        return Client(server.address, token_of(principal), timeout=20)

    with client("app-a") as app, client("sup-a1") as sup, client("insp-a") as insp:
        approved = _propose(app)
        sup.decide(approved, verdict="approve")
        rejected = _propose(app)
        sup.decide(rejected, verdict="reject", justification="service mal choisi")
        insp.create_checkpoint()
    with client("app-b") as app_b:
        other = _propose(app_b)
    yield World(server, approved, rejected, other)


@pytest.fixture
def inspector(visitor: Callable[..., Visitor], world: World) -> Visitor:
    return visitor("insp-a")


def _text(page: Any) -> str:
    return unescape(page.text)


class _PageCheck(HTMLParser):
    """Collects what every page must get right: ids, headings, handlers, styles."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.described: list[str] = []
        self.h1 = 0
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.h1 += tag == "h1"
        if named.get("id"):
            self.ids.append(str(named["id"]))
        self.described += str(named.get("aria-describedby") or "").split()
        self.inline += [n for n in named if n.startswith("on") or n == "style"]
        if tag == "script" and not named.get("src"):
            self.inline.append("script")


def _page(v: Visitor, path: str, status: int = 200) -> str:
    """The page at `path`, checked: one h1, no repeated id, every aria-describedby target
    present, no inline script, handler or style."""
    page = v.get(path)
    assert page.status_code == status, (path, page.status_code, page.text[:500])
    check = _PageCheck()
    check.feed(page.text)
    assert check.h1 == 1, path
    assert len(check.ids) == len(set(check.ids)), sorted(check.ids)
    assert set(check.described) <= set(check.ids), path
    assert not check.inline, (path, check.inline)
    if "\\u202e" not in page.text:  # no citizen text here: no character was made visible
        assert "\\x" not in page.text and "\\u" not in page.text, path
    return page.text


def _search(v: Visitor, **filters: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"search": "1", **filters}.items())
    return _page(v, f"/inspection/evenements?{query}")


def _assert_shown_as_text(html: str) -> None:
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{7*7}}" in html
    assert "\u202e" not in html and "\u200b" not in html
    assert "\\u202e" in html and "\\u200b" in html


# -- who may come --


@pytest.mark.parametrize("principal", ["sup-a1", "app-a"])
def test_only_inspectors_open_the_inspection_pages(
    visitor: Callable[..., Visitor], world: World, principal: str
) -> None:
    v = visitor(principal)
    for path in (
        "/inspection",
        "/inspection/evenements?search=1",
        f"/inspection/decisions/{world.approved}",
        f"/inspection/decisions/{world.approved}/explication",
        "/inspection/verification",
        "/inspection/statistiques",
    ):
        page = v.get(path)
        assert page.status_code == 403, path
        assert "alert" in page.text and HOSTILE not in _text(page)


def test_the_inspectors_home_names_their_tenant_and_pages(inspector: Visitor) -> None:
    assert inspector.get("/").url.path == "/inspection"
    html = _page(inspector, "/inspection")
    assert "ville-a" in html
    for path in ("/inspection/evenements", "/inspection/verification", "/inspection/statistiques"):
        assert f'href="{path}"' in html
    _page(inspector, "/inspection/verification")
    _page(inspector, "/inspection/evenements")


# -- search --


def test_search_by_decision_lists_its_events_in_order(inspector: Visitor, world: World) -> None:
    html = _search(inspector, decision=world.approved)
    for kind in ("decision.proposed", "review.recorded", "decision.finalized"):
        assert kind in html
    assert html.index("decision.proposed") < html.index("decision.finalized")
    assert world.rejected not in html
    assert 'id="events-table"' in html and "<caption>" in html and 'scope="col"' in html
    assert "<script>alert(1)" not in html


@pytest.mark.parametrize(
    ("filters", "finds_approved", "finds_rejected"),
    [
        ({"kind": "review.recorded", "verdict": "reject"}, False, True),
        ({"kind": "review.recorded", "verdict": "approve"}, True, False),
        ({"overrode": "yes", "type": "voirie.signalement"}, False, True),
        ({"reviewer": "sup-a1", "kind": "review.recorded"}, True, True),
        ({"ai_system": "tri-courrier", "model_version": "2026.2"}, True, True),
        ({"since": "2000-01-01", "until": "2000-01-02"}, False, False),
    ],
)
def test_search_filters_narrow_the_events(
    inspector: Visitor,
    world: World,
    filters: dict[str, str],
    finds_approved: bool,
    finds_rejected: bool,
) -> None:
    html = _search(inspector, **filters)
    assert (world.approved in html) is finds_approved, filters
    assert (world.rejected in html) is finds_rejected, filters


def test_search_today_in_paris_finds_todays_events(inspector: Visitor, world: World) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    html = _search(inspector, since=today, until=today, decision=world.approved)
    assert "decision.finalized" in html


def test_a_bad_filter_is_named_next_to_its_field(inspector: Visitor) -> None:
    html = _page(inspector, "/inspection/evenements?search=1&decision=pas-un-id&since=12/03", 400)
    assert "<title>Erreur" in html
    assert 'id="decision-error"' in html and 'aria-invalid="true"' in html
    assert 'id="since-error"' in html and 'href="#since"' in html


def test_search_pages_with_the_gateways_token(
    visitor: Callable[..., Visitor], world: World
) -> None:
    # In ville-b, whose queue no supervisor page test reads: these stay pending.
    inspector = visitor("insp-b")
    model = f"pages-{uuid.uuid4().hex[:6]}"
    with Client(world.server.address, token_of("app-b"), timeout=20) as app:
        proposed = {_propose(app, model=f"{model}@1") for _ in range(PAGE_SIZE + 1)}
    first = _search(inspector, kind="decision.proposed", ai_system=model, purpose="revue")
    found = {d for d in proposed if d in first}
    assert len(found) == PAGE_SIZE
    link = re.search(r'href="(/inspection/evenements\?[^"]+)" id="events-next"', first)
    assert link, "a full page links to the next"
    assert "ai_system=" in link[1] and "page=" in link[1] and "purpose=revue" in link[1]
    second = _page(inspector, unescape(link[1]))
    rest = {d for d in proposed if d in second}
    assert len(rest) == 1 and not rest & found
    assert 'id="events-next"' not in second


def test_reads_are_journaled_with_the_purpose_the_inspector_gives(
    inspector: Visitor, world: World
) -> None:
    purpose = f"contrôle {uuid.uuid4().hex[:6]}"
    _page(inspector, f"/inspection/decisions/{world.approved}?purpose={purpose}")
    _download(
        inspector,
        "/inspection/telechargements/evenements",
        {"decision": world.rejected, "format": "csv", "purpose": f"{purpose} export"},
    )
    with Client(world.server.address, token_of("dpo-a"), timeout=20) as dpo:
        deadline = time.monotonic() + 10
        while True:
            records = dpo.query_access_journal(reader="insp-a", page_size=1000).records
            purposes = {r.purpose for r in records}
            if {purpose, f"{purpose} export"} <= purposes or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert purpose in purposes and f"{purpose} export" in purposes, purposes


def test_an_inspector_never_sees_another_tenants_events(inspector: Visitor, world: World) -> None:
    assert world.other_tenant not in _search(inspector, kind="decision.proposed")
    page = inspector.get("/inspection/evenements?search=1&tenants=ville-b")
    assert page.status_code == 403
    assert world.other_tenant not in page.text
    assert inspector.get(f"/inspection/decisions/{world.other_tenant}").status_code == 404


def test_a_pooled_inspector_searches_each_tenant_granted(
    visitor: Callable[..., Visitor], world: World
) -> None:
    pooled = visitor("insp-pool")
    html = _search(
        pooled, kind="decision.proposed", ai_system="tri-courrier", tenants="ville-a,ville-b"
    )
    assert world.approved in html and world.other_tenant in html
    assert "ville-a · " in html, "rows of a tenant other than one's own name it"


# -- dossier and explanation --


def test_the_dossier_shows_facts_events_hashes_and_a_proof(
    inspector: Visitor, world: World
) -> None:
    html = _page(inspector, f"/inspection/decisions/{world.approved}?purpose=contr%C3%B4le+12")
    assert "voirie.signalement" in html and "usager:console-insp" in html
    assert "decision.finalized" in html and 'id="dossier-events-table"' in html
    assert 'id="dossier-proofs"' in html and "RFC 9162" in html
    assert "Preuve vérifiée par la console" in unescape(html) and "Preuve invalide" not in html
    assert f'href="/inspection/decisions/{world.approved}/explication"' in html
    _assert_shown_as_text(html)


def test_a_decisions_bundle_holds_its_events_and_proofs_that_verify_offline(
    inspector: Visitor, world: World
) -> None:
    inspector.get(f"/inspection/decisions/{world.approved}")
    page = inspector.http.post(
        f"/inspection/decisions/{world.approved}/lot",
        data={"csrf": inspector.csrf, "purpose": "réponse à la CADA"},
        headers={"origin": inspector.base},
    )
    assert page.status_code == 200 and page.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(page.content)) as z:
        files = {name.split("/", 1)[1]: z.read(name).decode() for name in z.namelist()}
    events = [json.loads(line) for line in files["events.jsonl"].splitlines()]
    assert [e["kind"] for e in events][-1] == "decision.finalized"
    checkpoints = {
        c["tree_size"]: c for c in map(json.loads, files["checkpoints.jsonl"].splitlines())
    }
    key = bytes.fromhex(files["public_key.txt"].strip())
    assert key == world.server.public_key
    canonical = {int(e["seq"]): base64.b64decode(e["canonical"]) for e in events}
    proofs = [json.loads(line) for line in files["proofs.jsonl"].splitlines()]
    assert len(proofs) == len(events)
    for proof in proofs:
        checkpoint = checkpoints[proof["tree_size"]]
        assert verify_signature(
            key,
            base64.b64decode(checkpoint["signed_note"]),
            base64.b64decode(checkpoint["signature"]),
        )
        assert merkle.verify_inclusion(
            merkle.leaf_hash(canonical[proof["seq"]]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(node) for node in proof["audit_path"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
    assert "1. Degré et mode de contribution" in files["explanation.fr.md"]
    assert world.approved in files["decision.json"]


def test_a_dossier_id_that_is_not_a_uuid_is_not_found(inspector: Visitor) -> None:
    assert inspector.get("/inspection/decisions/../../etc").status_code == 404
    assert inspector.get("/inspection/decisions/1234").status_code == 404


def test_the_explanation_is_french_printable_and_holds_the_four_items(
    inspector: Visitor, world: World
) -> None:
    html = _page(inspector, f"/inspection/decisions/{world.approved}/explication")
    assert '<html lang="fr">' in html
    text = unescape(html)
    for item in (
        "1. Degré et mode de contribution",
        "2. Données traitées",
        "3. Paramètres du traitement",
        "4. Opérations effectuées",
    ):
        assert item in text
    assert 'href="/static/print.css" media="print"' in html
    assert 'id="explanation-print"' in html and "onclick" not in html
    assert html.count("<h1") == 1
    _assert_shown_as_text(html)


def test_the_explanation_switches_to_english(inspector: Visitor, world: World) -> None:
    path = f"/inspection/decisions/{world.approved}/explication"
    inspector.get(path)
    page = inspector.post("/langue", {"langue": "en", "retour": path})
    assert page.url.path == path
    html = page.text
    assert '<html lang="en">' in html
    assert "1. Degree and mode of the algorithmic processing" in unescape(html)
    assert "4. Operations carried out" in html
    _assert_shown_as_text(html)


# -- verification --


def test_verification_without_javascript_reports_an_intact_trail(
    inspector: Visitor, world: World
) -> None:
    with Client(world.server.address, token_of("app-a"), timeout=20) as app:
        _propose(app)  # after the last checkpoint: covered by no signature yet
    inspector.get("/inspection/verification")
    page = inspector.post("/inspection/verification", {"tenant": ""})
    assert page.status_code == 200
    html = unescape(page.text)
    assert 'id="verification-report"' in html and "Piste intacte" in html
    assert 'id="verification-unsigned"' in html
    assert "ne sont encore couverts par aucun point de contrôle signé" in html


def test_verification_progress_streams_then_the_report(inspector: Visitor) -> None:
    inspector.get("/inspection/verification")
    started = inspector.http.post(
        "/inspection/verification",
        data={"csrf": inspector.csrf},
        headers={"origin": inspector.base, "accept": "application/json"},
    )
    assert started.status_code == 200, started.text
    run = started.json()
    events: list[tuple[str, dict[str, Any]]] = []
    with inspector.http.stream("GET", run["stream"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if name in ("report", "refused"):
                    break
    assert events[0][0] == "progress"
    assert events[-1] == ("report", {"ok": True, "problems": 0})
    last_progress = [data for name, data in events if name == "progress"][-1]
    assert last_progress["checked"] == last_progress["total"] > 0
    report = inspector.get(run["report"])
    assert "Piste intacte" in unescape(report.text)
    other = Visitor(inspector.base)
    other.sign_in("insp-pool")
    assert other.get(run["report"]).status_code == 404, "a run is its owner's"
    other.close()


def test_verification_names_a_tampered_event(
    inspector: Visitor, world: World, console_database: str
) -> None:
    with psycopg.connect(console_database) as conn:
        row = conn.execute(
            "SELECT seq FROM aval.audit_events WHERE tenant_id = 'ville-a' AND decision_id = %s"
            " AND kind = 'decision.finalized'",
            (world.approved,),
        ).fetchone()
    assert row is not None
    seq = row[0]

    def edit(conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "UPDATE aval.audit_events SET kind = 'decision.withdrawn'"
            " WHERE tenant_id = 'ville-a' AND seq = %s",
            (seq,),
        )

    inspector.get("/inspection/verification")
    with tampered(console_database, edit):
        page = inspector.post("/inspection/verification", {"tenant": "ville-a"})
    html = unescape(page.text)
    assert "Piste altérée" in html and 'id="verification-problems"' in html
    assert f"<td>{seq}</td>" in html
    assert 'role="alert"' in html


# -- statistics --


def test_statistics_draw_svg_charts_next_to_their_tables(inspector: Visitor, world: World) -> None:
    html = _page(inspector, "/inspection/statistiques")
    assert '<svg class="bars"' in html and 'role="img"' in html and "<desc" in html
    assert 'id="stats-decision_type"' in html and 'id="stats-reviewer"' in html
    assert "voirie.signalement" in html and "sup-a1" in html
    assert "Alerte d'approbation machinale" in unescape(html)
    assert "style=" not in html and "<script>" not in html.replace('<script src="/static/', "")
    bad = inspector.get("/inspection/statistiques?since=hier")
    assert bad.status_code == 400 and 'id="since-error"' in bad.text


# -- downloads --


def _download(v: Visitor, path: str, data: dict[str, str]) -> Any:
    v.get("/inspection")
    return v.http.post(path, data={"csrf": v.csrf, **data}, headers={"origin": v.base})


def test_events_download_as_jsonl_and_csv_with_the_filters(
    inspector: Visitor, world: World
) -> None:
    path = "/inspection/telechargements/evenements"
    jsonl = _download(
        inspector, path, {"decision": world.approved, "format": "jsonl", "purpose": "audit 7"}
    )
    assert jsonl.status_code == 200
    assert "attachment" in jsonl.headers["content-disposition"]
    assert jsonl.headers["content-disposition"].endswith('.jsonl"')
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert rows and {r["decision_id"] for r in rows} == {world.approved}
    assert [r["kind"] for r in rows][-1] == "decision.finalized"
    table = _download(inspector, path, {"decision": world.approved, "format": "csv"})
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(table.text)))
    assert len(lines) == len(rows) + 1


def test_an_export_of_another_tenant_is_refused(inspector: Visitor) -> None:
    page = _download(
        inspector,
        "/inspection/telechargements/evenements",
        {"tenants": "ville-b", "format": "jsonl"},
    )
    assert page.status_code == 403 and "attachment" not in page.headers.get(
        "content-disposition", ""
    )


@pytest.mark.parametrize("tenant", ["../../tmp/x", "ville-a/..", "Ville A"])
def test_a_bundle_of_a_name_no_tenant_has_is_refused(inspector: Visitor, tenant: str) -> None:
    page = _download(
        inspector, "/inspection/telechargements/lot", {"tenant": tenant, "archive": "zip"}
    )
    assert page.status_code == 400


@pytest.mark.parametrize("archive", ["zip", "tar.gz"])
def test_the_bundle_verifies_offline(
    inspector: Visitor, world: World, tmp_path: Path, archive: str
) -> None:
    page = _download(
        inspector,
        "/inspection/telechargements/lot",
        {"tenant": "", "archive": archive, "purpose": "copie pour la CADA"},
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-disposition"].startswith("attachment")
    if archive == "zip":
        with zipfile.ZipFile(io.BytesIO(page.content)) as z:
            z.extractall(tmp_path)
    else:
        with tarfile.open(fileobj=io.BytesIO(page.content), mode="r:gz") as t:
            t.extractall(tmp_path, filter="data")
    (folder,) = list(tmp_path.iterdir())
    reports = verify_bundle(
        folder,
        public_key=world.server.public_key,
        signature_ok=verify_signature,
        parse_note=parse_note,
    )
    assert reports and all(r.ok for r in reports), [r.problems for r in reports]
    assert reports[0].checkpoints_checked >= 1
    events = (folder / "events.jsonl").read_text(encoding="utf-8")
    assert world.approved in events and world.other_tenant not in events


def test_a_browser_post_with_a_null_origin_is_judged_by_sec_fetch_site(
    visitor: Callable[..., Visitor],
) -> None:
    """Chromium posts forms with `Origin: null` under the console's no-referrer policy."""
    v = visitor("insp-a")
    v.get("/inspection/verification")
    same = {"origin": "null", "sec-fetch-site": "same-origin"}
    page = v.http.post("/inspection/verification", data={"csrf": v.csrf}, headers=same)
    assert page.status_code == 200 and "Piste intacte" in unescape(page.text)
    other = {"origin": "null", "sec-fetch-site": "cross-site"}
    page = v.http.post("/inspection/verification", data={"csrf": v.csrf}, headers=other)
    assert page.status_code == 403
