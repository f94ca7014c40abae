"""The review-mode fields of a policy (input labels, decide-first, blind second review,
approvers' authentication levels): what loads, what is refused with the fix, and that the
revision changes with them."""

from __future__ import annotations

import pytest

from aval.policies import PolicyError, load_policy_text

BASE = """\
tenant: ville-x
preset: cautious_trial
contact: "Mairie de Ville-X"
decision_types:
  aides.attribution:
    purpose: "instruire les demandes"
    required_approvals: 2
"""


def test_the_modes_are_off_unless_the_policy_says_so() -> None:
    [policy] = load_policy_text("ville-x.yaml", BASE)
    assert policy.input_fields == ()
    assert (policy.decide_first, policy.blind_second_review) == (False, False)
    assert policy.approver_acr == ()


def test_the_modes_load_with_labels_in_order() -> None:
    [policy] = load_policy_text(
        "ville-x.yaml",
        BASE
        + """\
    decide_first: true
    blind_second_review: true
    approver_acr: [eidas2, eidas3-mfa]
    input_fields:
      - name: quotient_familial
        label: {fr: "Quotient familial", en: "Family quotient"}
        help: {fr: "En euros", en: "In euros"}
      - name: demande
        label: {fr: "Objet", en: "Subject"}
""",
    )
    assert (policy.decide_first, policy.blind_second_review) == (True, True)
    assert policy.approver_acr == ("eidas2", "eidas3-mfa")
    assert [f.name for f in policy.input_fields] == ["quotient_familial", "demande"]
    first = policy.input_fields[0]
    assert (first.label.text("fr"), first.label.text("en")) == (
        "Quotient familial",
        "Family quotient",
    )
    assert first.help is not None and first.help.text("en") == "In euros"
    assert policy.input_fields[1].help is None


@pytest.mark.parametrize(
    ("extra", "field", "fix"),
    [
        (
            "    input_fields:\n      - name: demande\n        label: {fr: Objet}\n",
            "decision_types.aides.attribution.input_fields.0.label.en",
            "label: {fr: ..., en: ...}",
        ),
        (
            "    input_fields:\n      - name: demande\n",
            "decision_types.aides.attribution.input_fields.0.label",
            "label: {fr: ..., en: ...}",
        ),
        (
            "    approver_acr: [eidas 2]\n",
            "decision_types.aides.attribution.approver_acr.0",
            "e.g. [eidas2, eidas3]",
        ),
        ("    decide_first: peut-être\n", "decision_types.aides.attribution.decide_first", "true"),
    ],
)
def test_a_malformed_mode_field_is_refused_naming_the_fix(extra: str, field: str, fix: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy_text("ville-x.yaml", BASE + extra)
    assert refused.value.field == field
    assert fix in refused.value.fix
    assert refused.value.line is not None


def test_a_field_labelled_twice_is_refused() -> None:
    twice = "      - name: demande\n        label: {fr: Objet, en: Subject}\n"
    with pytest.raises(PolicyError) as refused:
        load_policy_text("ville-x.yaml", BASE + "    input_fields:\n" + twice + twice)
    assert "demande more than once" in str(refused.value)


def test_blind_second_review_needs_a_second_reviewer() -> None:
    text = BASE.replace("required_approvals: 2", "required_approvals: 1")
    with pytest.raises(PolicyError) as refused:
        load_policy_text("ville-x.yaml", text + "    blind_second_review: true\n")
    assert "required_approvals of 2 or more" in str(refused.value)


def test_the_revision_changes_when_a_mode_changes() -> None:
    [plain] = load_policy_text("ville-x.yaml", BASE)
    [first] = load_policy_text("ville-x.yaml", BASE + "    decide_first: true\n")
    [acr] = load_policy_text("ville-x.yaml", BASE + "    approver_acr: [eidas2]\n")
    assert len({plain.revision, first.revision, acr.revision}) == 3
