"""Supervisors and an inspector at work in a real Chromium, signed in through a real OpenID
provider: a two-approval case worked to its outcome in blind second review, an amendment the
gateway refuses shown next to its field, a verdict on a case that changed since it was shown,
a new proposal appearing in an open queue without reload, decide-first, and an inspector who
verifies the trail and opens the citizen's explanation. axe-core runs on every page visited,
the browser reports no CSP violation, and a citizen name made of markup, template syntax and
bidi characters is shown as text everywhere. Screenshots land in build/screenshots."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aval.clients import Client
from aval.v1 import common_pb2
from tests.browser.conftest import Person, Served
from tests.support import token_of

pytestmark = pytest.mark.e2e

# A citizen's name as a hostile application could send it.
HOSTILE = '<img src=x id=pwned onerror="alert(1)">{{7*7}} {% raw %} Ma\u202eévil\u200b'


@pytest.fixture(scope="module")
def app(console_server: Served) -> Iterator[Client]:
    with Client(console_server.address, token_of("app-a"), timeout=30) as client:
        yield client


def _propose(app: Client, decision_type: str, output: dict[str, Any], **extra: Any) -> str:
    proposed = app.propose(
        decision_type=decision_type,
        subject_ref=f"usager:{uuid.uuid4().hex[:8]}",
        input={"nom": HOSTILE, "description": "lampadaire éteint", "demande": "aide cantine"},
        idempotency_key=str(uuid.uuid4()),
        suggestion=output,
        confidence=0.81,
        explanation="règle du barème",
        model="bareme@1.0",
        **extra,
    )
    return str(proposed.decision.id)


def _clean(someone: Person, refused: int | None = None) -> None:
    """What every visited page must satisfy: no serious or critical axe violation, nothing
    reported by the browser (but the `refused` status of a page the gateway refused), the
    hostile name never turned into markup."""
    assert someone.axe() == [], someone.page.url
    assert someone.page.locator("#pwned").count() == 0
    expected = f"status of {refused} " if refused else None
    problems = [p for p in someone.problems if expected is None or expected not in p]
    assert problems == [], problems
    someone.problems.clear()


def _shows_hostile_as_text(someone: Person, where: str) -> None:
    text = someone.page.inner_text(where)
    assert "{{7*7}}" in text and "<img src=x" in text
    assert "\\u202e" in text and "\\u200b" in text  # bidi and zero-width made visible


def test_two_supervisors_work_a_blind_two_approval_case_to_its_outcome(
    person: Callable[[str], Person], app: Client
) -> None:
    decision_id = _propose(app, "aides.attribution", {"accord": True})
    camille = person("camille")
    camille.page.goto(f"{camille.base}/dossier/{decision_id}")
    _shows_hostile_as_text(camille, "#case-input")
    camille.screenshot("case")
    _clean(camille)
    camille.page.click("#approve-submit")
    camille.page.wait_for_selector("#case-done")
    _clean(camille)

    sacha = person("sacha")
    sacha.page.goto(f"{sacha.base}/dossier/{decision_id}")
    # Blind second review: Camille's verdict is not shown before Sacha gives theirs.
    assert sacha.page.is_visible("#verdicts-withheld")
    shown = sacha.page.locator("#case-reviews")
    assert shown.count() == 0 or "Camille Martin" not in shown.inner_text()
    history = sacha.page.inner_text("#case-history").splitlines()
    assert not [line for line in history if "Camille" in line and "approuv" in line.lower()]
    _clean(sacha)
    sacha.page.click("#approve-submit")
    sacha.page.wait_for_selector("#case-done")
    reviews = sacha.page.inner_text("#case-reviews")
    assert "Camille Martin" in reviews and "Sacha Bernard" in reviews
    assert sacha.page.is_visible("#case-outcome")
    _clean(sacha)
    assert app.get_decision(decision_id).state == common_pb2.DECISION_STATE_APPROVED


def test_an_amendment_outside_the_schema_is_refused_next_to_its_field(
    person: Callable[[str], Person], app: Client
) -> None:
    decision_id = _propose(app, "voirie.signalement", {"service": "voirie"})
    camille = person("camille")
    page = camille.page
    page.goto(f"{camille.base}/dossier/{decision_id}")
    page.select_option("#amend-service", "proprete")
    page.fill("#amend-reference", "AB-12345")  # the schema allows 7 characters
    if page.locator("#amend-justification").count():
        page.fill("#amend-justification", "mauvais service")
    page.click("#amend-submit")
    error = page.wait_for_selector("#amend-reference-error")
    assert error is not None and error.is_visible()
    assert page.get_attribute("#amend-reference", "aria-invalid") == "true"
    assert "amend-reference-error" in (
        page.get_attribute("#amend-reference", "aria-describedby") or ""
    )
    _clean(camille, refused=400)


def test_a_verdict_on_a_case_changed_since_it_was_shown_is_refused_with_the_new_state(
    person: Callable[[str], Person], app: Client
) -> None:
    decision_id = _propose(app, "double.examen", {"service": "voirie"})
    camille = person("camille")
    camille.page.goto(f"{camille.base}/dossier/{decision_id}")  # shown to Camille
    sacha = person("sacha")
    sacha.page.goto(f"{sacha.base}/dossier/{decision_id}")
    sacha.page.select_option("#amend-service", "proprete")
    sacha.page.fill("#amend-justification", "signalement de propreté")
    sacha.page.click("#amend-submit")
    sacha.page.wait_for_selector("#case-done")
    # Camille approves what she was shown: the gateway refuses, the page shows the new state.
    camille.page.click("#approve-submit")
    refusal = camille.page.wait_for_selector("#case-refusal")
    assert refusal is not None and refusal.is_visible()
    assert "Sacha Bernard" in camille.page.inner_text("#case-reviews")
    _clean(camille, refused=409)


def test_a_new_proposal_appears_in_an_open_queue_within_two_seconds(
    person: Callable[[str], Person], app: Client
) -> None:
    camille = person("camille")
    page = camille.page
    page.goto(f"{camille.base}/file")
    _clean(camille)
    page.wait_for_timeout(500)  # the page's event stream is open
    decision_id = _propose(app, "voirie.signalement", {"service": "eclairage"})
    proposed_at = time.monotonic()
    page.wait_for_selector(f"#row-{decision_id}", timeout=2000)
    assert time.monotonic() - proposed_at < 2.0
    camille.screenshot("queue")
    _clean(camille)
    # Keyboard only: j moves to the first case, Enter opens it.
    page.keyboard.press("j")
    assert page.evaluate("() => document.activeElement.hasAttribute('data-row-link')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{camille.base}/dossier/**")
    _clean(camille)


def test_in_decide_first_the_reviewer_records_a_view_before_the_suggestion_appears(
    person: Callable[[str], Person], app: Client
) -> None:
    decision_id = _propose(app, "stationnement.recours", {"recours_fonde": True})
    camille = person("camille")
    page = camille.page
    page.goto(f"{camille.base}/dossier/{decision_id}")
    assert page.is_visible("#suggestion-withheld")
    assert page.locator("#case-suggestion").count() == 0
    _clean(camille)
    page.check("#view-verdict-reject")
    page.fill("#view-note", "le forfait semble justifié")
    page.click("#view-submit")
    page.wait_for_selector("#case-suggestion")
    assert page.is_visible("#own-view")
    _clean(camille)


def test_an_inspector_verifies_the_trail_and_opens_the_citizens_explanation(
    person: Callable[[str], Person], app: Client, console_server: Served
) -> None:
    decision_id = _propose(app, "voirie.signalement", {"service": "voirie"})
    with Client(console_server.address, token_of("sup-a1"), timeout=30) as sup:
        sup.decide(decision_id, verdict="approve")
    dominique = person("dominique")
    page = dominique.page
    page.goto(f"{dominique.base}/inspection/verification")
    _clean(dominique)
    page.click("#verification-start")
    verdict = page.wait_for_selector("#verification-verdict", timeout=30_000)
    assert verdict is not None and "Piste intacte" in verdict.inner_text()
    _clean(dominique)
    page.goto(f"{dominique.base}/inspection/decisions/{decision_id}")
    _shows_hostile_as_text(dominique, "main")
    dominique.screenshot("dossier")
    _clean(dominique)
    page.click("#dossier-explanation")
    page.wait_for_selector("#explanation")
    explanation = page.inner_text("#explanation")
    # The four items of CRPA R311-3-1-2, in plain French.
    for item in ("1. Degré et mode", "2. Données traitées", "3. Paramètres", "4. Opérations"):
        assert item in explanation
    dominique.screenshot("explanation")
    _clean(dominique)
