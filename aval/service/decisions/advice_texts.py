"""Why a decision holds no valid suggestion, in the reader's language: a stable reason with its
parameters, worded in English (for the trail and developers) and in French (for agents), the
way refusals are (`refusals.render`)."""

from __future__ import annotations

from typing import Any

from aval.service import refusals

# reason -> (English, French). The AI's failure (reason AI_ANSWER) is a technical status written
# by the backends (never the AI's own error text), shown as it is in every language.
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
    # The operator's AI egress policy prevented the call (service/egress.py).
    "AI_ENDPOINT_NOT_ALLOWED": (
        "the endpoint of the AI system {ai_system!r} is not on this tenant's AI egress "
        "allow-list (AVAL_AI_EGRESS_FILE), so it is not called; a human decides without a "
        "suggestion",
        "l'adresse du système d'IA {ai_system!r} n'est pas dans la liste des destinations "
        "autorisées de la collectivité (AVAL_AI_EGRESS_FILE) : il n'est pas appelé, un agent "
        "décide sans suggestion",
    ),
    "AI_ENDPOINT_UNRESOLVED": (
        "the host name of the AI system {ai_system!r} does not resolve, so it is not called",
        "le nom d'hôte du système d'IA {ai_system!r} ne se résout pas : il n'est pas appelé",
    ),
    "AI_SECRET_NOT_DECLARED": (
        "the API key of the AI system {ai_system!r} is not a secret the operator declared for "
        "this tenant (AVAL_AI_EGRESS_FILE), so it is not called",
        "la clé d'API du système d'IA {ai_system!r} n'est pas un secret que l'exploitant a "
        "déclaré pour la collectivité (AVAL_AI_EGRESS_FILE) : il n'est pas appelé",
    ),
    "AI_SECRET_UNSET": (
        "the secret holding the API key of the AI system {ai_system!r} has no value on this "
        "server (ask the operator), so it is not called",
        "le secret qui porte la clé d'API du système d'IA {ai_system!r} n'a pas de valeur sur "
        "ce serveur (voir l'exploitant) : il n'est pas appelé",
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
