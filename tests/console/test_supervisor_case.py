"""A case page through a real server: the citizen's input with its labels, the AI's suggestion,
the policy and the history; claim and release; verdicts to an outcome; the gateway's refusals
next to the field they name; a verdict bound to the version shown; review modes; citizen text
always shown as text."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from html import unescape

import pytest

from aval.clients import Client
from tests.console.support import Visitor, assert_well_formed
from tests.console.test_supervisor_queue import propose

pytestmark = pytest.mark.e2e


def seen_version(v: Visitor) -> str:
    assert v.page is not None
    found = re.search(r'name="seen_version" value="(\d+)"', v.page.text)
    assert found, "the page has no action form"
    return found[1]


def act(v: Visitor, decision_id: str, action: str, **fields: str) -> str:
    """Opens the case, posts one of its action forms with the version shown; the page text."""
    assert_well_formed(v.get(f"/dossier/{decision_id}"))
    page = v.post(f"/dossier/{decision_id}/{action}", {"seen_version": seen_version(v), **fields})
    assert_well_formed(page)
    return unescape(page.text)


def test_the_case_shows_labelled_input_suggestion_policy_and_history(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, subject = propose(
        gateway,
        "console.montant",
        input={"nom": "Camille", "adresse": {"rue": "rue de la Paix", "numero": 1}, "age": 40},
    )
    page = visitor("sup-a1").get(f"/dossier/{decision_id}")
    assert page.status_code == 200
    assert_well_formed(page)
    text = unescape(page.text)
    assert f"<h1>Dossier {subject}</h1>" in text
    assert "<dt>Nom du demandeur</dt>" in text and "<dd>Camille</dd>" in text
    assert "<dt>Adresse</dt>" in text and "rue: rue de la Paix" in text
    assert "<dt>age</dt>" in text  # a key the policy does not describe: its raw name
    assert "adresse sur la voirie communale" in text and "87\u202f%" in text
    assert "tester le formulaire de modification" in text
    assert "0 sur 1 requises" in text
    assert 'id="case-history"' in text
    # The amend form is generated from the output schema.
    assert '<select id="amend-service" name="out.service"' in text
    assert 'id="amend-montant" name="out.montant" value="1200"' in text
    assert '<input type="checkbox" id="amend-urgent"' in text
    assert '<textarea id="amend-etiquettes"' in text


def test_an_id_that_is_not_a_uuid_is_a_404(visitor: Callable[..., Visitor]) -> None:
    assert visitor("sup-a1").get("/dossier/not-a-uuid").status_code == 404
    assert visitor("sup-a1").get(f"/dossier/{uuid.uuid4()}").status_code == 404


def test_claim_and_release(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.montant")
    v = visitor("sup-a1")
    text = act(v, decision_id, "prendre")
    assert v.page is not None and v.page.url.query == b"fait=claim"
    assert "Vous avez pris ce dossier en charge." in text
    assert 'id="form-release"' in text
    assert gateway("sup-a1").get_decision(decision_id).claim.claimed_by == "sup-a1"
    other = unescape(visitor("sup-a2").get(f"/dossier/{decision_id}").text)
    assert "Pris en charge par sup-a1" in other and 'id="form-claim"' not in other
    text = act(v, decision_id, "liberer")
    assert "Vous avez libéré ce dossier." in text and 'id="form-claim"' in text
    assert not gateway("sup-a1").get_decision(decision_id).claim.claimed_by


def test_two_supervisors_approve_a_two_approval_case_to_its_outcome(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "aides.attribution")
    text = act(visitor("sup-a1"), decision_id, "approuver")
    assert "Votre approbation est enregistrée." in text and "1 sur 2 requises" in text
    text = act(visitor("sup-a2"), decision_id, "approuver")
    assert "approuvée" in text and 'id="form-approve"' not in text
    assert gateway("sup-a1").get_decision(decision_id).state == 2  # APPROVED


def test_an_amendment_outside_the_schema_is_refused_next_to_its_field(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.montant")
    v = visitor("sup-a1")
    text = act(
        v,
        decision_id,
        "amender",
        **{"out.service": "voirie", "out.montant": "-5", "out.urgent": "off"},
    )
    assert v.page is not None and v.page.status_code == 200
    assert "<title>Erreur\u00a0: " in text
    assert 'id="amend-montant-error"' in text
    field = re.search(r'<input [^>]*id="amend-montant"[^>]*>', text)
    assert field and 'aria-describedby="amend-montant-error"' in field[0]
    assert 'aria-invalid="true"' in field[0] and "autofocus" in field[0]
    assert 'value="-5"' in field[0]  # what the person typed stays
    assert 'role="alert"' in text
    assert gateway("sup-a1").get_decision(decision_id).state == 1  # still pending


def test_a_valid_amendment_is_recorded(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.montant")
    text = act(
        visitor("sup-a1"),
        decision_id,
        "amender",
        **{"out.service": "proprete", "out.montant": "900", "out.urgent": "on"},
    )
    assert "Votre modification est enregistrée." in text
    d = gateway("sup-a1").get_decision(decision_id)
    assert dict(d.outcome) == {"service": "proprete", "montant": 900, "urgent": True}


def test_a_verdict_on_a_case_changed_since_shown_is_refused_and_the_new_state_shown(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "aides.attribution")
    v = visitor("sup-a1")
    v.get(f"/dossier/{decision_id}")
    shown = seen_version(v)
    gateway("sup-a2").decide(
        decision_id,
        verdict="amend",
        amended_output={"accord": True, "montant_centimes": 9000},
        justification="barème 2026",
    )
    page = v.post(f"/dossier/{decision_id}/approuver", {"seen_version": shown})
    text = unescape(page.text)
    assert page.status_code == 200 and 'role="alert"' in text
    assert_well_formed(page)
    assert "Le dossier a changé depuis que vous l'avez ouvert." in text
    assert "1 sur 2 requises" in text  # the new state
    assert seen_version(v) != shown
    assert len(gateway("sup-a1").get_decision(decision_id).reviews) == 1


def test_a_reject_without_the_required_justification_is_refused_next_to_it(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.montant")
    v = visitor("sup-a1")
    text = act(v, decision_id, "rejeter", justification="  ")
    assert v.page is not None and v.page.status_code == 200
    assert 'id="reject-justification-error"' in text
    text = act(v, decision_id, "rejeter", justification="adresse hors commune")
    assert "Votre rejet est enregistré." in text


MARKUP = "<script>alert(1)</script> {{7*7}} {% x %} \u202e gauche \u200b fin"
# A subject reference is one word: the same, without spaces.
MARKUP_WORD = "<script>alert(1)</script>{{7*7}}{%x%}\u202e\u200b"


def test_citizen_markup_is_shown_as_text_on_every_page(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(
        gateway,
        "console.montant",
        input={"nom": MARKUP, "adresse": {"rue": MARKUP}},
        explanation=MARKUP,
        suggestion={"service": "voirie", "montant": 1200, "motif": MARKUP},
        subject_ref=MARKUP_WORD,
    )
    v = visitor("sup-a1")
    for page in (v.get("/file?type=console.montant"), v.get(f"/dossier/{decision_id}")):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        text = unescape(page.text)
        assert "<script>alert(1)</script>" in text  # shown, escaped in the HTML
        assert "{{7*7}}" in text and "{%x%}" in text  # never evaluated (no 49)
        assert "\u202e" not in page.text and "\u200b" not in page.text
        assert "\\u202e" in text and "\\u200b" in text  # made visible


def test_decide_first_asks_for_the_reviewers_view_before_the_suggestion(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.avis")
    v = visitor("sup-a1")
    queue = unescape(v.get("/file?type=console.avis").text)
    row = queue[queue.index(f'id="row-{decision_id}"') :].split("</tr>")[0]
    assert "Masquée jusqu'à votre propre avis" in row and "Sans IA" not in row
    text = unescape(v.get(f"/dossier/{decision_id}").text)
    assert 'id="suggestion-withheld"' in text and 'id="form-view"' in text
    assert "adresse sur la voirie communale" not in text
    assert 'id="form-approve"' not in text
    text = act(v, decision_id, "avis", note="sans avis")
    assert 'id="view-verdict-error"' in text and 'id="form-view"' in text
    assert "sans avis" in text  # the note typed stays
    text = act(v, decision_id, "avis", verdict="amend", **{"out.": "[pas un objet"})
    assert 'id="amend-output-error"' in text and 'id="form-view"' in text
    text = act(v, decision_id, "avis", verdict="reject", note="je doute")
    assert "adresse sur la voirie communale" in text and 'id="own-view"' in text
    assert 'id="form-approve"' in text


def test_blind_second_review_hides_earlier_verdicts_and_says_why(
    visitor: Callable[..., Visitor], gateway: Callable[[str], Client]
) -> None:
    decision_id, _ = propose(gateway, "console.aveugle")
    act(visitor("sup-a1"), decision_id, "approuver", justification="conforme au barème")
    v = visitor("sup-a2")
    text = unescape(v.get(f"/dossier/{decision_id}").text)
    assert 'id="verdicts-withheld"' in text and "conforme au barème" not in text
    assert "celles déjà données restent masquées" in text
    text = act(v, decision_id, "approuver")
    assert "conforme au barème" in text
