"""Why a decision holds no valid suggestion, in the reader's language: a stable reason with its
parameters, worded in English (for the trail and developers) and in French (for agents), the
way refusals are; the catalogues aval/texts/data/advice.toml and stop_scopes.toml."""

from __future__ import annotations

from typing import Any

from aval import texts

_TEXTS = texts.load("advice")
# The scope of a stop, by language.
_SCOPES = texts.load("stop_scopes")


def render(reason: str, params: dict[str, Any], language: str = "fr") -> str:
    """The reason in words; French unless `language` is "en"; "" without a reason."""
    if reason not in _TEXTS:
        return ""
    language = "en" if language == "en" else "fr"
    values = dict(params)
    if reason == "AI_STOPPED":
        scope = str(params.get("scope"))
        values["scope"] = texts.render(
            _SCOPES,
            scope if scope in _SCOPES else "AI_SYSTEM",
            language,
            target=params.get("target", ""),
        )
    return texts.render(_TEXTS, reason, language, **values)
