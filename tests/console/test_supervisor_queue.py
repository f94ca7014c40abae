"""The supervisors' queue through a real server: what each row shows (suggestion, confidence,
"no AI" flag, Paris deadline, near-deadline mark), filters and counts, pagination, who may see
it, and the live stream that tells an open queue about new work."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest

from aval.clients import Client
from tests.console.support import Visitor, assert_well_formed

pytestmark = pytest.mark.e2e

MONTHS_FR = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def propose(
    gateway: Callable[[str], Client], decision_type: str, **changes: object
) -> tuple[str, str]:
    """Proposes as app-a with an attested suggestion; returns (decision id, subject ref)."""
    subject = f"usager:{uuid.uuid4().hex[:10]}"
    kwargs: dict[str, object] = {
        "decision_type": decision_type,
        "subject_ref": subject,
        "input": {"nom": "Camille", "adresse": "1 rue de la Paix"},
        "suggestion": {"service": "voirie", "montant": 1200},
        "confidence": 0.87,
        "explanation": "adresse sur la voirie communale",
        "model": "tri@1",
    }
    kwargs.update(changes)
    d = gateway("app-a").propose(**kwargs).decision  # type: ignore[arg-type]
    return d.id, subject


def counts_of(page: httpx.Response) -> list[int]:
    text = unescape(page.text)
    found = re.search(r'id="queue-counts">([^<]*)<', text)
    assert found, "the queue shows no counts"
    return [int(n) for n in re.findall(r"\d+", found[1].replace("24 h", ""))]


def test_queue_shows_a_case_with_suggestion_confidence_and_paris_deadline(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, subject = propose(gateway, "console.montant")
    d = gateway("sup-a1").get_decision(decision_id)
    page = visitor("sup-a1").get("/file?type=console.montant")
    assert page.status_code == 200
    assert_well_formed(page)
    assert re.fullmatch(r"app;dur=[0-9.]+", page.headers["server-timing"])
    text = unescape(page.text)
    row = text[text.index(f'id="row-{decision_id}"') :].split("</tr>")[0]
    assert subject in row and "console.montant" in row
    assert '"montant":1200' in row and "87\u202f%" in row
    assert f'href="/dossier/{decision_id}" data-row-link' in row
    deadline = d.deadline.ToDatetime(tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    month = MONTHS_FR[deadline.month - 1]
    assert f"{deadline.day} {month} {deadline.year} à {deadline:%H:%M}" in row
    assert 'id="file-decisions"' in text and "<caption>" in text
    assert 'data-live-queue="/file/flux" data-refresh="/file?type=console.montant"' in text


def test_a_case_without_ai_is_flagged_in_words(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(
        gateway, "voirie.signalement", suggestion=None, confidence=None, explanation="", model=None
    )
    text = unescape(visitor("sup-a1").get("/file?type=voirie.signalement").text)
    row = text[text.index(f'id="row-{decision_id}"') :].split("</tr>")[0]
    assert "Sans IA" in row


def test_a_case_due_within_a_day_is_marked_in_text_and_listed_first(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    soon, _ = propose(gateway, "console.urgent")
    page = visitor("sup-a1").get("/file")
    assert_well_formed(page)
    text = unescape(page.text)
    assert re.findall(r'id="row-([0-9a-f-]{36})"', text)[0] == soon
    row = text[text.index(f'id="row-{soon}"') :].split("</tr>")[0]
    assert "Échéance proche (moins de 24 h)" in row


def test_a_supervisor_is_told_of_their_claimed_cases_near_deadline(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    v = visitor("sup-a3")
    assert 'id="queue-notice"' not in v.get("/file").text
    soon, _ = propose(gateway, "console.urgent")
    gateway("sup-a3").claim(soon)
    text = unescape(v.get("/file").text)
    notice = re.search(r'<p [^>]*id="queue-notice">(.*?)</p>', text)
    assert notice and "1 dossier(s) que vous avez pris en charge" in notice[1]
    assert 'href="/file?moi=1"' in notice[1]


def test_the_queue_speaks_english_after_the_language_switch(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor("sup-a2")
    v.get("/file")
    page = v.post("/langue", {"langue": "en", "retour": "/file"})
    assert page.url.path == "/file"
    assert '<html lang="en">' in page.text
    assert "Queue of decisions to review" in page.text and "Filter the queue" in page.text
    assert_well_formed(page)


def test_filters_and_counts(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    v = visitor("sup-a2")
    before = counts_of(v.get("/file"))
    first, _ = propose(gateway, "console.avis")
    second, _ = propose(gateway, "console.avis")
    page = v.get("/file")
    shown, pending, _near, mine = counts_of(page)
    assert pending == before[1] + 2 and mine == before[3]
    only = unescape(v.get("/file?type=console.avis").text)
    assert f"row-{first}" in only and f"row-{second}" in only
    assert "row-" in only and "console.montant" not in only.split('id="queue-region"')[1]
    # Claimed by me: claim the first through its page.
    v.get(f"/dossier/{first}")
    version = re.search(r'name="seen_version" value="(\d+)"', v.page.text)  # type: ignore[union-attr]
    assert version
    v.post(f"/dossier/{first}/prendre", {"seen_version": version[1]})
    claimed = unescape(v.get("/file?moi=1").text)
    assert f"row-{first}" in claimed and f"row-{second}" not in claimed
    assert counts_of(v.get("/file"))[3] == before[3] + 1
    # Not yet seen: the first was opened by sup-a2, the second was not.
    unseen = unescape(v.get("/file?non_vus=1&type=console.avis").text)
    assert f"row-{second}" in unseen and f"row-{first}" not in unseen
    # Deadline before a day long past: nothing.
    assert "row-" not in v.get("/file?avant=2000-01-01").text
    assert shown >= 2


def test_the_queue_pages_with_a_next_link(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    made = {propose(gateway, "sans.amendement")[0] for _ in range(51)}
    v = visitor("sup-a3")
    first = v.get("/file?type=sans.amendement").text
    found = re.search(r'href="([^"]+)" id="queue-next"', first)
    assert found, "no next page link"
    second = v.get(unescape(found[1])).text
    rows = set(re.findall(r'id="row-([0-9a-f-]{36})"', first + second))
    assert made <= rows


@pytest.mark.parametrize("principal", ["insp-a", "app-a"])
@pytest.mark.parametrize("path", ["/file", "/file/flux", f"/dossier/{uuid.uuid4()}"])
def test_people_without_the_supervisor_role_get_a_403_page(
    visitor: Callable[..., Visitor], principal: str, path: str
) -> None:
    page = visitor(principal).get(path)
    assert page.status_code == 403
    assert "<h1>" in page.text and "superviseur" in unescape(page.text)


def test_a_new_proposal_reaches_an_open_queue_within_two_seconds(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    v = visitor("sup-a1")
    with v.http.stream("GET", "/file/flux", timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        time.sleep(0.3)  # the gateway's watch is open once the first bytes came
        started = time.monotonic()
        decision_id, _ = propose(gateway, "console.montant")
        while time.monotonic() - started < 2:
            line = next(lines)
            if line == "event: queue":
                data = next(lines)
                if decision_id in data:
                    break
        else:
            pytest.fail("no queue event within 2 s")
        assert time.monotonic() - started < 2


def test_a_session_holds_only_a_few_streams(visitor: Callable[..., Visitor]) -> None:
    v = visitor("sup-a3")
    opened = [v.http.stream("GET", "/file/flux", timeout=10) for _ in range(3)]
    responses = [s.__enter__() for s in opened]
    try:
        assert all(r.status_code == 200 for r in responses)
        assert v.http.get("/file/flux").status_code == 429
    finally:
        for s in opened:
            s.__exit__(None, None, None)


def test_the_stream_ends_with_the_session(visitor: Callable[..., Visitor]) -> None:
    v = visitor("sup-a2")
    v.get("/file")
    with v.http.stream("GET", "/file/flux", timeout=15) as stream:
        lines = stream.iter_lines()
        next(lines)
        other = Visitor(v.base)
        other.http.cookies.update(v.http.cookies)
        other.get("/file")
        other.post("/deconnexion")
        other.close()
        started = datetime.now(UTC)
        for _ in lines:
            pass  # ends within the session check period
        assert (datetime.now(UTC) - started).total_seconds() < 10
