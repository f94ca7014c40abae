"""Refusals: one reason, an English status message, and the caller's language in the details."""

from __future__ import annotations

import string
import uuid

import pytest

from aval.service.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    language_of,
    to_status,
)
from aval.service.refusals import REFUSALS, VIOLATIONS
from aval.texts import Catalogue
from tests.support import unpacked_details


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("table", [REFUSALS, VIOLATIONS])
def test_french_and_english_texts_take_the_same_parameters(table: Catalogue) -> None:
    same = {"verdict_fr": "verdict"}  # the French text names the verdict as a French verb
    for reason, text in table.texts.items():
        english, french = text["en"], text["fr"]
        french_fields = {same.get(name, name) for name in _fields(french)}
        assert _fields(english) == french_fields, reason


def _details(status: object) -> dict[str, object]:
    return {type(m).__name__: m for m in unpacked_details(status)}


def test_a_refusal_is_english_for_developers_and_french_for_agents_I6() -> None:
    decision = uuid.uuid4()
    error = FailedPrecondition("ALREADY_REVIEWED", reviewer="agent-martin", decision=decision)
    status = to_status(error, "fr")
    details = _details(status)
    assert "already gave a verdict" in status.message
    assert "a déjà donné son avis" in details["LocalizedMessage"].message  # type: ignore[attr-defined]
    info = details["ErrorInfo"]
    assert info.reason == "ALREADY_REVIEWED"  # type: ignore[attr-defined]
    assert dict(info.metadata) == {"reviewer": "agent-martin", "decision": str(decision)}  # type: ignore[attr-defined]
    english = _details(to_status(error, "en"))["LocalizedMessage"]
    assert english.locale == "en" and "already gave" in english.message  # type: ignore[attr-defined]


def test_field_violations_carry_reason_and_localized_text_I6() -> None:
    error = InvalidArgument(
        [
            FieldViolation("decision_id", "NOT_A_UUID"),
            FieldViolation("input", "TOO_LARGE", {"limit": 2048}),
        ]
    )
    bad = _details(to_status(error, "fr"))["BadRequest"]
    violations = bad.field_violations  # type: ignore[attr-defined]
    assert [(v.field, v.reason, v.description) for v in violations] == [
        ("decision_id", "NOT_A_UUID", "must be a UUID"),
        ("input", "TOO_LARGE", "larger than the limit of 2048 bytes"),
    ]
    assert violations[1].localized_message.message == "dépasse la limite de 2048 octets"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "fr"),
        ("fr-FR,fr;q=0.9", "fr"),
        ("en", "en"),
        ("en-GB, fr", "en"),
        ("de", "fr"),
    ],
)
def test_language_comes_from_accept_language(header: str | None, language: str) -> None:
    metadata = [("accept-language", header)] if header else []
    assert language_of(metadata) == language
