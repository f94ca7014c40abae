"""The command line's texts in French (the default) and English: the catalogue
aval/texts/data/cli.toml."""

from __future__ import annotations

from typing import Final

from aval import texts
from aval.texts import LANGUAGES, Language

__all__ = ["CATALOGUE", "CATALOGUES", "LANGUAGES", "Language", "Messages", "language_of"]

CATALOGUE: Final[texts.Catalogue] = texts.load("cli")
CATALOGUES: Final[dict[Language, dict[str, str]]] = {
    language: CATALOGUE.in_language(language) for language in LANGUAGES
}


def language_of(value: str | None) -> Language:
    """Picks the catalogue for a language tag such as ``"en"``, ``"en_GB.UTF-8"`` or ``"FR"``.

    Args:
        value: A language tag, or ``None``.

    Returns:
        ``"en"`` for English tags, ``"fr"`` otherwise.
    """
    return "en" if (value or "").strip().lower()[:2] == "en" else "fr"


class Messages(texts.Texts):
    """The texts of one language: ``t(key, **values)`` is the text ``key``, its
    ``{placeholders}`` filled with ``values``.

    Args:
        language: ``"fr"`` or ``"en"``.
    """

    def __init__(self, language: Language) -> None:
        super().__init__(CATALOGUE, language)

    def number(self, value: float, *, signed: bool = False) -> str:
        """Writes a number with two decimals and the language's decimal separator.

        Args:
            value: The number.
            signed: Whether a positive number gets a "+".

        Returns:
            E.g. ``"0,87"`` in French, ``"0.87"`` in English.
        """
        return texts.number(value, self.language, signed=signed)
