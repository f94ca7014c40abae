"""A catalogue of texts in French and English, read from a data file, and the one way to
render one of its texts."""

from __future__ import annotations

import functools
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal, get_args

from aval.texts.formatting import ECHO_LIMIT, LONGER_ECHO, shown

Language = Literal["fr", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)


class MissingParameter(KeyError):
    """A text names a placeholder that the caller did not fill."""


class Verbatim(str):
    """A parameter already shown (made of shown parts): an echoing catalogue does not cut it
    a second time."""


@dataclass(frozen=True)
class Catalogue:
    """Texts keyed by a stable key, each in French and English.

    `default` is the language of a reader who asks for neither; `echo` catalogues show their
    parameters as refusals do (`shown`: cut short, invisible characters escaped, `{x!r}`
    quoted), others format them as Python does."""

    name: str
    texts: Mapping[str, Mapping[Language, str]]
    default: Language = "fr"
    echo: bool = False

    def __contains__(self, key: object) -> bool:
        return key in self.texts

    def keys(self) -> list[str]:
        return list(self.texts)

    def in_language(self, language: str) -> dict[str, str]:
        """Every text of the catalogue in one language, by key."""
        chosen = self.language(language)
        return {key: text[chosen] for key, text in self.texts.items()}

    def language(self, language: str) -> Language:
        """The language a reader asking for `language` gets."""
        return "fr" if language == "fr" else "en" if language == "en" else self.default


def load(name: str) -> Catalogue:
    """The catalogue of the data file `aval/texts/data/<name>.toml`."""
    return _load(name)


@functools.cache
def _load(name: str) -> Catalogue:
    data = tomllib.loads(
        resources.files("aval.texts").joinpath("data", f"{name}.toml").read_text("utf-8")
    )
    meta = data.get("catalogue", {})
    texts: dict[str, dict[Language, str]] = {}
    for key, text in data["texts"].items():
        texts[key] = {language: text[language] for language in LANGUAGES}
    return Catalogue(
        name=name, texts=texts, default=meta.get("default", "fr"), echo=meta.get("echo", False)
    )


class _Echo(string.Formatter):
    """Fills placeholders with `shown` parameters; `{x!r}` quotes them."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        value, used = super().get_field(field_name, args, kwargs)
        if isinstance(value, Verbatim):
            return value, used
        return shown(value, LONGER_ECHO.get(field_name, ECHO_LIMIT)), used

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return "'" + value.replace("'", "\\'") + "'" if conversion == "r" else value


_ECHO = _Echo()
_PLAIN = string.Formatter()


def render(catalogue: Catalogue, key: str, language: str, /, **params: Any) -> str:
    """The text `key` in `language` (the catalogue's default language for any other), its
    placeholders filled with `params`; a placeholder left unfilled is an error."""
    template = catalogue.texts[key][catalogue.language(language)]
    try:
        return (_ECHO if catalogue.echo else _PLAIN).vformat(template, (), params)
    except KeyError as missing:
        raise MissingParameter(f"{catalogue.name}:{key} needs the parameter {missing}") from None


class Texts:
    """The texts of one catalogue in one language: `texts(key, **params)` renders one."""

    def __init__(self, catalogue: Catalogue, language: Language) -> None:
        self.catalogue = catalogue
        self.language: Language = language

    def __call__(self, key: str, /, **params: Any) -> str:
        return render(self.catalogue, key, self.language, **params)


def placeholders(text: str) -> set[str]:
    """The names of a text's placeholders."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
