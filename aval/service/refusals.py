"""What every refusal says, in English (the status message, for developers) and in French (the
google.rpc.LocalizedMessage that supervisors and agents read), keyed by a stable reason: the
catalogues aval/texts/data/refusals.toml and violations.toml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aval.texts import ECHO_LIMIT, LONGER_ECHO, Catalogue, load, render, shown

__all__ = [
    "ECHO_LIMIT",
    "LONGER_ECHO",
    "REFUSALS",
    "VIOLATIONS",
    "render",
    "shown",
    "shown_params",
]

# Placeholders are filled from the error's parameters, which also travel as ErrorInfo.metadata
# so that any client can word the refusal its own way.
REFUSALS: Catalogue = load("refusals")
VIOLATIONS: Catalogue = load("violations")


def shown_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The parameters as ErrorInfo.metadata carries them: each `shown`."""
    return {
        str(key): shown(value, LONGER_ECHO.get(str(key), ECHO_LIMIT))
        for key, value in params.items()
    }
