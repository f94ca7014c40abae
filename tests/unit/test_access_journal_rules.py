"""The access journal's rules that need no server: the purpose's checks, the retention's
bounds and the purge's cut-off in calendar months (R13, CNIL deliberation 2021-122)."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aval.service.audit.access_journal import PURPOSE_KEY, purpose_of, summary
from aval.service.audit.journal_purge import cutoff
from aval.service.errors import InvalidArgument
from aval.service.runtime.commands import _settings
from aval.service.runtime.server import StartupError
from aval.service.settings import Settings


@pytest.mark.parametrize("months", [6, 9, 12])
def test_a_retention_of_6_to_12_months_is_accepted_R13(months: int) -> None:
    assert (
        Settings(access_journal_retention_months=months).access_journal_retention_months == months
    )


def test_the_retention_is_12_months_by_default_R13() -> None:
    assert Settings().access_journal_retention_months == 12


@pytest.mark.parametrize("months", ["0", "5", "13", "120", "-12", "12.5", "douze", ""])
def test_another_retention_stops_the_start_naming_the_fix_R13(
    months: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAL_ACCESS_JOURNAL_RETENTION_MONTHS", months)
    with pytest.raises(ValidationError):
        Settings()
    with pytest.raises(StartupError, match=r"AVAL_ACCESS_JOURNAL_RETENTION_MONTHS.*6 to 12"):
        _settings()


@pytest.mark.parametrize(
    ("now", "months", "expected"),
    [
        (datetime(2026, 12, 6, 10, tzinfo=UTC), 12, datetime(2025, 12, 6, 10, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 8, 31, tzinfo=UTC), 6, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 6, datetime(2025, 7, 15, tzinfo=UTC)),
    ],
)
def test_the_cutoff_counts_calendar_months_R13(
    now: datetime, months: int, expected: datetime
) -> None:
    assert cutoff(now, months) == expected


@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2999, 1, 1)), st.integers(6, 12)
)
def test_the_cutoff_is_never_less_than_the_retention_R13(now: datetime, months: int) -> None:
    moment = now.replace(tzinfo=UTC)
    assert (moment - cutoff(moment, months)).days >= months * 28


def _of(*values: str) -> str:
    return purpose_of([("authorization", "Bearer x")] + [(PURPOSE_KEY, v) for v in values])


def test_no_purpose_is_an_empty_one_R13() -> None:
    assert _of() == ""


@given(st.text(st.characters(categories=["L", "M", "N", "P", "S", "Zs"]), max_size=200))
def test_printable_text_round_trips_through_the_sdks_encoding_R13(text: str) -> None:
    expected = unicodedata.normalize("NFC", text).strip()
    assert _of(quote(text, safe="")) == expected


def test_french_spacing_is_kept_R13() -> None:
    assert _of(quote("contrôle\u202f: dossier n°\u00a042", safe="")) == (
        "contrôle\u202f: dossier n°\u00a042"
    )


@given(st.text(st.characters(categories=["Cc", "Cf", "Co", "Zl", "Zp"]), min_size=1, max_size=5))
def test_controls_formats_and_separators_are_refused_R13(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        _of(quote("dossier" + bad + "42", safe=""))


def test_the_summary_is_ascii_json_of_the_filters_asked_R13() -> None:
    assert summary({"decision_type": "aide\u202e", "kind": "", "overrode": None}) == (
        '{"decision_type":"aide\\u202e"}'
    )


def test_a_huge_filter_is_cut_in_the_summary_R13() -> None:
    kept = json.loads(summary({"kind": "k" * 100_000, "overrode": False, "page": True}))
    assert kept == {"kind": "k" * 200 + "…", "overrode": False, "page": True}
