"""Why a decision holds no valid suggestion, in the reader's language: a stable reason with its
parameters, worded in English (for the trail and developers) and in French (for agents), the
way refusals are (`refusals.render`)."""

from __future__ import annotations

from typing import Any

from . import refusals

# reason -> (English, French). The AI's own error (reason AI_ANSWER) is technical text from
# the backend, shown as it is in every language.
_TEXTS: dict[str, tuple[str, str]] = {
    "AI_ANSWER": ("{detail}", "{detail}"),
    "AI_SYSTEM_UNREGISTERED": (
        "the AI system {ai_system!r} is not registered for this tenant (aval admin systems "
        "register); a human decides without a suggestion",
        "le système d'IA {ai_system!r} n'est pas enregistré pour cette collectivité (aval admin "
        "systems register) : un agent décide sans suggestion",
    ),
    "AI_STOPPED": (
        "kill switch: {scope} stopped by {stopped_by} at {stopped_at}: {why}",
        "arrêt d'urgence : {scope} arrêté(e) par {stopped_by} le {stopped_at} : {why}",
    ),
    "AI_SYSTEM_DISABLED": (
        "the AI system {ai_system!r} is disabled in the registry",
        "le système d'IA {ai_system!r} est désactivé dans le registre",
    ),
    "HIGH_RISK_UNPINNED": (
        "high-risk decision type: the AI system {ai_system!r} has no pinned model version "
        "(aval admin pin), so it is not called",
        "type de décision à haut risque : le système d'IA {ai_system!r} n'a pas de version "
        "épinglée (aval admin pin), il n'est donc pas appelé",
    ),
}

# The scope of a stop, by language.
_SCOPES: dict[str, tuple[str, str]] = {
    "TENANT": ("all AI systems of the tenant", "toute IA de la collectivité"),
    "DECISION_TYPE": ("the AI of decision type {target}", "l'IA du type de décision {target}"),
    "AI_SYSTEM": ("the AI system {target!r}", "le système d'IA {target!r}"),
}


def render(reason: str, params: dict[str, Any], language: str = "fr") -> str:
    """The reason in words; French unless `language` is "en"; "" without a reason."""
    if reason not in _TEXTS:
        return ""
    language = "en" if language == "en" else "fr"
    values = dict(params)
    if reason == "AI_STOPPED":
        scope = str(params.get("scope"))
        values["scope"] = refusals.render(
            _SCOPES,
            scope if scope in _SCOPES else "AI_SYSTEM",
            language,
            target=params.get("target", ""),
        )
    return refusals.render(_TEXTS, reason, language, **values)
