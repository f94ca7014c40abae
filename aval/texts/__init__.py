"""Every text Aval shows people, in French and English: catalogues (data files) and the one
render function; pure, so the command line and SDK import it without the server."""

from aval.texts.catalogue import (
    LANGUAGES,
    Catalogue,
    Language,
    MissingParameter,
    Texts,
    Verbatim,
    load,
    placeholders,
    render,
)
from aval.texts.formatting import ECHO_LIMIT, LONGER_ECHO, duration, number, percent, shown

__all__ = [
    "ECHO_LIMIT",
    "LANGUAGES",
    "LONGER_ECHO",
    "Catalogue",
    "Language",
    "MissingParameter",
    "Texts",
    "Verbatim",
    "duration",
    "load",
    "number",
    "percent",
    "placeholders",
    "render",
    "shown",
]
