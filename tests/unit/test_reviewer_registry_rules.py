"""The rules of the reviewer registry (R11) that need no server: the validity of a
qualification in Europe/Paris days, both ends included; the policy switch; the reload that
stages every part before applying any."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aval.audit_store.reviewers import ALL_TYPES, QualificationRecord
from aval.policies import PolicyBook, PolicyError, load_policy_dir, load_policy_text
from aval.service.authorization import Authorizer
from aval.service.configuration import (
    ConfigurationInvalid,
    GrantsPart,
    PoliciesPart,
    Reloader,
)
from aval.service.decisions.reviewer_registry import valid_qualification
from aval.service.errors import PermissionDenied
from tests.support import POLICIES

GRANTED = datetime(2026, 1, 1, tzinfo=UTC)


def _record(**changes: object) -> QualificationRecord:
    fields: dict[str, object] = {
        "tenant_id": "ville-a",
        "id": uuid.uuid4(),
        "reviewer_id": "sup-a1",
        "decision_type": "aides.attribution",
        "trained_on": date(2026, 1, 5),
        "delegated_by": "Mme la Maire",
        "valid_from": date(2026, 1, 10),
        "valid_until": date(2026, 3, 10),
        "granted_by": "admin-a",
        "granted_at": GRANTED,
        "reason": "formation",
    }
    fields.update(changes)
    return QualificationRecord(**fields)  # type: ignore[arg-type]


def _reason(rows: list[QualificationRecord], now: datetime, kind: str = "aides.attribution") -> str:
    with pytest.raises(PermissionDenied) as refused:
        valid_qualification(rows, "sup-a1", kind, now)
    return refused.value.reason


def test_the_last_day_is_valid_until_midnight_in_paris_not_in_utc() -> None:
    row = _record()
    # 10 March 2026 23:59:59 in Paris (CET, UTC+1) is 22:59:59 UTC: still valid.
    assert (
        valid_qualification(
            [row], "sup-a1", "aides.attribution", datetime(2026, 3, 10, 22, 59, 59, tzinfo=UTC)
        )
        == row
    )
    # Midnight in Paris, 23:00 UTC the same UTC day: expired, the day named in French.
    with pytest.raises(PermissionDenied) as refused:
        valid_qualification(
            [row], "sup-a1", "aides.attribution", datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
        )
    assert refused.value.reason == "QUALIFICATION_EXPIRED"
    assert refused.value.params["valid_until"] == "10/03/2026"
    # In summer (CEST, UTC+2) the first day starts at 22:00 UTC the day before.
    summer = _record(valid_from=date(2026, 7, 1), valid_until=date(2026, 7, 31))
    assert (
        valid_qualification(
            [summer], "sup-a1", "aides.attribution", datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
        )
        == summer
    )
    assert (
        _reason([summer], datetime(2026, 6, 30, 21, 59, tzinfo=UTC))
        == "QUALIFICATION_NOT_YET_VALID"
    )


def test_missing_other_type_revoked_and_superseded() -> None:
    now = datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert _reason([], now) == "QUALIFICATION_MISSING"
    assert _reason([_record()], now, "voirie.signalement") == "QUALIFICATION_MISSING"
    every = _record(decision_type=ALL_TYPES)
    assert valid_qualification([every], "sup-a1", "voirie.signalement", now) == every
    revoked = _record(revoked_at=datetime(2026, 1, 20, tzinfo=UTC), revoked_by="admin-a")
    assert _reason([revoked], now) == "QUALIFICATION_REVOKED"
    # Revoked later than `now`: it was valid then (history answers for the past).
    assert (
        valid_qualification(
            [revoked], "sup-a1", "aides.attribution", datetime(2026, 1, 15, tzinfo=UTC)
        )
        == revoked
    )
    renewal = _record(valid_until=date(2026, 12, 31))
    old = replace(
        _record(valid_until=date(2026, 1, 20)), superseded_at=GRANTED, superseded_by=renewal.id
    )
    assert valid_qualification([renewal, old], "sup-a1", "aides.attribution", now) == renewal


def test_the_policy_switch_is_off_by_default_and_only_required_or_off() -> None:
    (policy,) = [
        p for p in load_policy_text("ville-a.yaml", POLICIES["ville-a"])
        if p.decision_type == "aides.attribution"
    ]  # fmt: skip
    assert not policy.requires_qualification
    text = POLICIES["ville-b"] + "    qualified_reviewers: always\n"
    with pytest.raises(PolicyError) as refused:
        load_policy_text("ville-b.yaml", text)
    assert refused.value.field.endswith("qualified_reviewers")
    assert refused.value.line == len(text.splitlines())
    assert "qualified_reviewers: required" in refused.value.fix
    (on,) = load_policy_text(
        "ville-b.yaml", POLICIES["ville-b"] + "    qualified_reviewers: required\n"
    )
    assert on.requires_qualification


class _Holder:
    def __init__(self, policies: PolicyBook, authorizer: Authorizer) -> None:
        self.policies, self.authorizer = policies, authorizer


def test_a_reload_applies_nothing_when_any_part_is_invalid(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "ville-b.yaml").write_text(POLICIES["ville-b"], encoding="utf-8")
    grants = tmp_path / "grants.csv"
    grants.write_text("p, admin, *, admin.write\n", encoding="utf-8")
    holder = _Holder(load_policy_dir(folder), Authorizer([], grants))
    first_book, first_authorizer = holder.policies, holder.authorizer
    reloader = Reloader([PoliciesPart(holder, folder), GrantsPart(holder, grants)])
    assert not any(s.revision.changed for s in reloader.stage())
    (folder / "ville-b.yaml").write_text(
        POLICIES["ville-b"] + "    deadline: 5d\n", encoding="utf-8"
    )
    grants.write_text("p, admin, *, admin.write\ng, someone, admin, *\n", encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as refused:
        reloader.stage()
    assert refused.value.part == "grants" and refused.value.line == 2
    assert holder.policies is first_book and holder.authorizer is first_authorizer
    grants.write_text("p, admin, *, admin.write\n", encoding="utf-8")
    staged = reloader.stage()
    assert [s.revision.changed for s in staged] == [True, False]
    reloader.apply(staged)
    assert holder.policies is not first_book
    assert not any(s.revision.changed for s in reloader.stage())
