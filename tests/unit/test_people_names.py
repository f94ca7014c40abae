"""Display names made safe to store and show: bounded, printable, invisible and bidirectional
characters escaped (never stored raw), nothing for what holds nothing visible."""

from __future__ import annotations

import pytest

from aval.service.people.names import MAX_DISPLAY_NAME, safe_display_name


def test_an_ordinary_name_is_kept_as_written() -> None:
    assert safe_display_name("  Marie-Hélène N'Diaye  ") == "Marie-Hélène N'Diaye"
    assert safe_display_name("José Martínez") == "José Martínez"  # combining accents


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Eve\u202eLIVE", "Eve\\u202eLIVE"),  # right-to-left override
        ("A\u2066B\u2069", "A\\u2066B\\u2069"),  # isolates
        ("Jean\u200bPaul", "Jean\\u200bPaul"),  # zero-width space
        ("Ann\u00adie", "Ann\\u00adie"),  # soft hyphen
        ("Line\nBreak\r\t", "Line\\u000aBreak"),  # controls; trailing ones stripped first
        ("Tag\U000e0041", "Tag\\U000e0041"),  # tag character
        ("Nul\x00", "Nul\\u0000"),
    ],
)
def test_invisible_and_control_characters_are_escaped_never_raw(raw: str, stored: str) -> None:
    name = safe_display_name(raw)
    assert name == stored
    assert name.isprintable()


@pytest.mark.parametrize(
    "raw", ["", "   ", "\u200b\u200b", "\u202e", "\u3164", None, 42, ["Marie"], b"Marie"]
)
def test_nothing_visible_or_not_text_gives_no_name(raw: object) -> None:
    assert safe_display_name(raw) == ""


def test_a_long_name_is_cut_at_the_bound_never_inside_an_escape() -> None:
    assert len(safe_display_name("é" * 10_000)) == MAX_DISPLAY_NAME
    name = safe_display_name("a" * 197 + "\u202e" * 5)
    assert name == "a" * 197  # the escape of 6 characters does not fit: left out whole
    name = safe_display_name("a" * 190 + "\u202e" * 5)
    assert name == "a" * 190 + "\\u202e"
    assert len(safe_display_name("\u202ex" * 500)) <= MAX_DISPLAY_NAME


def test_a_tower_of_combining_marks_is_cut() -> None:
    name = safe_display_name("Z" + "\u0301" * 300 + "oe")
    assert name == "Z" + "\u0301" * 4 + "oe"
