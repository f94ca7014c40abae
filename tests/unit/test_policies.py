"""Review policy files: what loads, what is refused, and how refusals name the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aval.policies import PolicyError, load_policy_dir, load_policy_text, load_presets
from aval.service.runtime.demo import demo_policy_dir

VALID = """\
tenant: ville-x
preset: cautious_trial
contact: "Mairie de Ville-X"
decision_types:
  voirie.signalement:
    purpose: "orienter les signalements"
    required_approvals: {approvals}
    deadline: 72h
"""


def test_zero_approvals_is_refused_with_file_line_and_fix_I1() -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy_text("ville-x.yaml", VALID.format(approvals=0))
    error = refused.value
    assert (error.path, error.line) == ("ville-x.yaml", 7)
    assert error.field == "decision_types.voirie.signalement.required_approvals"
    assert "required_approvals to 1 or more" in error.fix and "I1" in error.fix
    assert str(error).startswith(
        "ville-x.yaml:7: decision_types.voirie.signalement.required_approvals"
    )


def test_zero_approvals_in_a_preset_is_refused_too_I1(tmp_path: Path) -> None:
    (tmp_path / "laxiste.yaml").write_text(
        "name: laxiste\ndefaults:\n  required_approvals: 0\n", encoding="utf-8"
    )
    presets = load_presets([tmp_path])
    text = VALID.replace("preset: cautious_trial", "preset: laxiste").replace(
        "    required_approvals: {approvals}\n", ""
    )
    policy_dir = tmp_path / "tenants"
    policy_dir.mkdir()
    (policy_dir / "ville-x.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_policy_dir(policy_dir, presets=presets)
    assert refused.value.path.endswith("laxiste.yaml") and refused.value.line == 3


def test_a_valid_file_merges_preset_and_own_fields() -> None:
    [policy] = load_policy_text("ville-x.yaml", VALID.format(approvals=2))
    assert policy.required_approvals == 2
    assert policy.deadline == timedelta(hours=72)
    assert policy.justification_required_for == {"amend", "reject"}  # from the preset
    assert "L311-3-1" in policy.notice["fr"] and "Mairie de Ville-X" in policy.notice["fr"]
    assert policy.revision.startswith("sha256:")


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (
            VALID.format(approvals=1).replace("deadline: 72h", "deadline: demain"),
            "decision_types.voirie.signalement.deadline",
            8,
        ),
        (
            VALID.format(approvals=1).replace("    purpose", "    purpse"),
            "decision_types.voirie.signalement.purpse",
            6,
        ),
        (
            VALID.format(approvals=1).replace("preset: cautious_trial", "preset: inconnu"),
            "preset",
            2,
        ),
        (
            VALID.format(approvals=1).replace('contact: "Mairie de Ville-X"\n', ""),
            "decision_types.voirie.signalement",
            4,
        ),
        ("tenant: ville-x\ndecision_types: [\n", "(syntax)", 3),
    ],
)
def test_bad_files_name_the_field_and_line(text: str, field: str, line: int) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy_text("f.yaml", text)
    assert (refused.value.field, refused.value.line) == (field, line)
    assert refused.value.fix


def test_the_three_presets_and_the_demo_load() -> None:
    assert set(load_presets()) == {"assumed_distrust", "cautious_trial", "ordered_rollout"}
    assert load_presets()["assumed_distrust"][0].defaults.required_approvals == 2
    book = load_policy_dir(demo_policy_dir())
    assert book.decision_types("ville-demo") == [
        "aides.attribution",
        "stationnement.recours",
        "voirie.signalement",
    ]
    aides = book.get("ville-demo", "aides.attribution")
    assert aides is not None and aides.required_approvals == 2
    assert aides.justification_required_for >= {"amend", "reject"}
