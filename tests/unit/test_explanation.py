"""Explanations: the four items of CRPA R311-3-1-2, no personal data, escaped Markdown and HTML."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from aval.audit_store.records import Decision, DecisionState, Review, Suggestion, Verdict
from aval.policies import ReviewPolicy, load_policy_dir
from aval.service.audit.explanation import explain_for_citizen, mask_input, parse_factors
from aval.service.audit.explanation_inspector import EventProof, explain_for_inspector
from aval.verifier.events import AuditEvent
from tests.support import write_config

T0 = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
INPUT = {"quotient_familial": 640, "demande": "aide cantine", "nom": "Dupont-Lefebvre"}
SCRIPT = "<script>alert('x')</script>"
ITEMS = {
    "fr": [
        "1. Degré et mode de contribution du traitement algorithmique",
        "2. Données traitées et leurs sources",
        "3. Paramètres du traitement et leur pondération appliqués à votre situation",
        "4. Opérations effectuées",
        "article L311-3-1",
    ],
    "en": [
        "1. Degree and mode of the algorithmic processing's contribution",
        "2. Data processed and their sources",
        "3. Processing parameters and their weighting applied to your situation",
        "4. Operations carried out",
        "article L311-3-1",
    ],
}


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> ReviewPolicy:
    folder = tmp_path_factory.mktemp("policies")
    policy_dir, _ = write_config(folder)
    found = load_policy_dir(policy_dir).get("ville-a", "aides.attribution")
    assert found is not None
    return found


def decision(
    policy: ReviewPolicy, *, explanation: str = "quotient familial sous le seuil de 700"
) -> Decision:
    """An amended decision: sup-a1 claimed it, amended it (with a note), sup-a2 approved."""
    d = Decision(
        tenant_id="ville-a",
        id=uuid.uuid4(),
        decision_type="aides.attribution",
        subject_ref="usager:7f3a",
        state=DecisionState.AMENDED,
        input=dict(INPUT),
        input_sha256="ab" * 32,
        suggestion=Suggestion(
            output={"accord": True, "montant_centimes": 12000},
            confidence=0.82,
            explanation=explanation,
            model_name="bareme-ccas",
            model_version="2026.1",
        ),
        proposer_id="app-a",
        idempotency_key="k-1",
        request_sha256="cd" * 32,
        policy_revision=policy.revision,
        required_approvals=2,
        rejections_to_close=1,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=9),
        deadline=T0 + timedelta(days=30),
        approvals=2,
        outcome={"accord": True, "montant_centimes": 10000},
        finalized_at=T0 + timedelta(minutes=9),
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        version=5,
    )
    d.reviews = [
        Review("sup-a1", ("supervisor",), Verdict.AMEND, f"plafond {SCRIPT}", {"m": 1}, T0 + _m(5)),
        Review("sup-a2", ("supervisor",), Verdict.APPROVE, "", None, T0 + _m(9)),
    ]
    return d


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def event(d: Decision, seq: int, kind: str, actor: str, at: datetime) -> AuditEvent:
    return AuditEvent(
        d.tenant_id, seq, uuid.uuid4(), at, d.id, kind, actor, "human", d.trace_id, 1, {}, b"{}",
        bytes(32), bytes([seq]) * 32,
    )  # fmt: skip


@pytest.mark.parametrize("language", ["fr", "en"])
def test_citizen_text_has_the_four_items_and_the_notice_R16(
    policy: ReviewPolicy, language: str
) -> None:
    text = explain_for_citizen(decision(policy), policy, language)
    positions = [text.find(item) for item in ITEMS[language]]
    assert all(p >= 0 for p in positions), text
    assert positions == sorted(positions)
    assert policy.notice_text(language)[1].split(".")[0] in text
    # Item 1: the model and its degree of contribution; item 2: the fields and their source.
    assert "bareme-ccas@2026.1" in text and "82 %" in text.replace("82%", "82 %")
    assert all(f"`{name}`" in text for name in INPUT)
    assert "ab" * 32 in text
    # Item 3: the AI's explanation; item 4: the operations, in order.
    assert "quotient familial sous le seuil de 700" in text
    supervising = "agent chargé de la supervision" if language == "fr" else "supervising agent"
    assert text.count(supervising) == 3  # two verdicts, and who validated


@pytest.mark.parametrize("language", ["fr", "en"])
def test_citizen_text_holds_no_input_values_reviewer_ids_or_notes(
    policy: ReviewPolicy, language: str
) -> None:
    leaky = "Dupont-Lefebvre a un quotient familial de 640, sous le seuil de 700 (aide cantine)"
    d = decision(policy, explanation=leaky)
    for fmt in ("markdown", "html"):
        text = explain_for_citizen(d, policy, language, fmt)  # type: ignore[arg-type]
        text = text.replace(str(d.id), "").replace(d.input_sha256, "")
        for value in ("640", "aide cantine", "Dupont-Lefebvre", "sup-a1", "sup-a2", "plafond"):
            assert value not in text, (value, fmt)
        assert "app-a" not in text and "12000" not in text
        assert "700" in text  # the threshold is the rule's, not the person's


def test_structured_factors_are_listed_with_their_weights(policy: ReviewPolicy) -> None:
    explanation = json.dumps(
        {
            "summary": "barème du CCAS",
            "factors": [
                {"name": "quotient familial", "weight": 0.7, "detail": "640 < 700"},
                {"name": "composition du foyer", "weight": 0.3},
            ],
        }
    )
    assert parse_factors(explanation)[1][0].weight == 0.7
    d = decision(policy, explanation=explanation)
    text = explain_for_citizen(d, policy, "fr")
    assert "quotient familial — poids 70 % : (donnée de votre dossier) \\< 700" in text
    assert "composition du foyer — poids 30 %" in text
    assert "640" not in text.replace(str(d.id), "") and "barème du CCAS" in text
    inspector = explain_for_inspector(decision(policy, explanation=explanation), policy, [], "en")
    assert r"factor `quotient familial`, weight 0.7 — 640 \< 700" in inspector


def test_masking_keeps_numbers_that_are_not_the_persons() -> None:
    masked = mask_input("640 € ; 6400 ; 1640 ; 640,5 ; 640.", {"q": 640}, "[x]")
    assert masked == "[x] € ; 6400 ; 1640 ; 640,5 ; [x]."


def test_inspector_record_is_complete(policy: ReviewPolicy) -> None:
    d = decision(policy)
    events = [
        event(d, 1, "decision.proposed", "app-a", T0),
        event(d, 2, "decision.claimed", "sup-a1", T0 + _m(2)),
        event(d, 3, "review.recorded", "sup-a1", T0 + _m(5)),
        event(d, 4, "review.recorded", "sup-a2", T0 + _m(9)),
        event(d, 5, "decision.finalized", "sup-a2", T0 + _m(9)),
    ]
    proof = EventProof(1, 0, 4, "ef" * 32, ("01" * 32, "02" * 32))
    text = explain_for_inspector(d, policy, events, "en", proofs={1: proof})
    for expected in (
        "`usager:7f3a`",
        "ab" * 32,
        "data (fields) `demande`, `nom`, `quotient_familial`, sent by the application `app-a`",
        "model `bareme-ccas@2026.1`",
        "confidence 0.82",
        '`{"accord": true, "montant_centimes": 12000}`',
        "quotient familial sous le seuil de 700",
        f"revision applied `{policy.revision}`",
        "`sup-a1` — AMEND at 2026-03-12 13:05:00 UTC",
        "review time 3 min from their claim",  # claimed at 13:02
        "review time 9 min from the proposal",
        "overrode the AI: yes",
        "overrode the AI: no",
        "roles `supervisor`",
        "trace id `4bf92f3577b34da6a3ce929d0e0e4736`",
        "time to decision 9 min",
        "#1 — 2026-03-12 13:00:00 UTC — `decision.proposed` by `app-a` (human) — hash `0101",
        "`decision.claimed` by `sup-a1`",
        "inclusion proof: leaf 0 of the tree of size 4, root `" + "ef" * 32,
        "no inclusion proof yet",
    ):
        assert expected in text, expected
    assert r"plafond \<script\>alert('x')\</script\>" in text
    french = explain_for_inspector(d, policy, events, "fr")
    assert "durée d'examen 3 min depuis sa prise en charge" in french
    assert "Preuves d'inclusion : aucune fournie." in french


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("audience", ["citizen", "inspector"])
def test_html_is_escaped_and_self_contained(policy: ReviewPolicy, audience: str) -> None:
    d = decision(policy, explanation=f"seuil {SCRIPT} & <b>gras</b>")
    if audience == "citizen":
        page = explain_for_citizen(d, policy, "fr", "html")
    else:
        page = explain_for_inspector(d, policy, [], "fr", "html")
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert "link" not in parsed.tags and "img" not in parsed.tags
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert SCRIPT in "".join(parsed.text)  # shown as text, not run
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert not re.search(r"https?://", page)


def test_markdown_escapes_markup_from_the_record(policy: ReviewPolicy) -> None:
    d = decision(policy, explanation="*gras* [lien](http://x) `code` <img src=x>")
    text = explain_for_citizen(d, policy, "fr")
    assert r"\*gras\* \[lien\](http://x) \`code\` \<img src=x\>" in text


def test_an_explanation_nested_too_deeply_is_plain_text_not_a_crash() -> None:
    nested = "[" * 5000 + "]" * 5000  # an application's attested explanation, hostile
    assert parse_factors(nested) == (nested, [])
