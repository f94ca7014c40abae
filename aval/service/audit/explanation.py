"""Explanations of one decision: CRPA R311-3-1-2 for the citizen, the full record for inspectors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aval.audit_store.records import Decision, DecisionState, Verdict
from aval.policies import ReviewPolicy
from aval.service.audit.report_html import Code, Document, Inline, TextFormat, when

# Texts as (French, English).
_STATE = {
    DecisionState.PENDING_REVIEW: ("en attente de validation humaine", "awaiting human validation"),
    DecisionState.APPROVED: ("validée par un agent", "validated by an agent"),
    DecisionState.AMENDED: ("validée après modification par un agent", "validated after change"),
    DecisionState.REJECTED: ("rejetée par un agent", "rejected by an agent"),
    DecisionState.EXPIRED: (
        "expirée sans validation : sans effet",
        "expired unvalidated: no effect",
    ),
    DecisionState.WITHDRAWN: ("retirée", "withdrawn"),
}
_DEGREE = {
    DecisionState.PENDING_REVIEW: (
        "La proposition est en cours d'examen : aucune décision n'est encore prise.",
        "The suggestion is being examined: nothing has been decided yet.",
    ),
    DecisionState.APPROVED: (
        "Les agents ont validé la proposition sans la modifier : la décision la reprend.",
        "The agents validated the suggestion unchanged: the decision follows it.",
    ),
    DecisionState.AMENDED: (
        "Un agent a modifié la proposition : la décision diffère de ce que le système proposait.",
        "An agent changed the suggestion: the decision differs from what the system proposed.",
    ),
    DecisionState.REJECTED: (
        "Un agent a rejeté la proposition du système.",
        "An agent rejected the system's suggestion.",
    ),
    DecisionState.EXPIRED: (
        "Personne n'a validé la proposition dans le délai : elle ne produit aucun effet.",
        "Nobody validated the suggestion in time: it has no effect.",
    ),
    DecisionState.WITHDRAWN: ("La demande a été retirée.", "The request was withdrawn."),
}
_VERDICT = {
    Verdict.APPROVE: ("a approuvé la proposition", "approved the suggestion"),
    Verdict.AMEND: ("a modifié la proposition", "changed the suggestion"),
    Verdict.REJECT: ("a rejeté la proposition", "rejected the suggestion"),
}
_ROLES = {
    "supervisor": ("un agent chargé de la supervision", "a supervising agent"),
    "inspector": ("un agent de contrôle", "an inspecting agent"),
}
_C = {
    "title": ("Explication de la décision", "Explanation of the decision"),
    "ref": ("Décision n° ", "Decision no. "),
    "of": (" du ", " of "),
    "state": ("État de la décision : {}.", "State of the decision: {}."),
    "item1": (
        "1. Degré et mode de contribution du traitement algorithmique à la décision",
        "1. Degree and mode of the algorithmic processing's contribution to the decision",
    ),
    "ai": (
        "Un système d'intelligence artificielle ({}) a analysé la demande et proposé une "
        "réponse{}. Ce n'est qu'une aide à la décision : elle ne pouvait produire aucun effet "
        "sans l'examen d'au moins {} agent(s) habilité(s), libre(s) de l'approuver, de la "
        "modifier ou de la rejeter.",
        "An artificial intelligence system ({}) analysed the request and proposed an answer{}. "
        "It is only a decision aid: it could have no effect without the examination of at least "
        "{} authorised agent(s), free to approve, change or reject it.",
    ),
    "confidence": (" avec une confiance estimée à {}", " with an estimated confidence of {}"),
    "no_ai": (
        "Aucun système d'intelligence artificielle n'a proposé de réponse : des agents ont "
        "préparé et pris la décision.",
        "No artificial intelligence system proposed an answer: agents prepared and took the "
        "decision.",
    ),
    "item2": ("2. Données traitées et leurs sources", "2. Data processed and their sources"),
    "fields": ("Données de votre dossier traitées : ", "Data of your file processed: "),
    "source": (
        "Source : le service de la collectivité qui instruit la demande, par son application, au "
        "moment de la demande. Leur contenu n'est pas reproduit ici ; leur empreinte numérique "
        "SHA-256 ",
        "Source: the authority's department that handles the request, through its application, "
        "when the request was made. Their content is not reproduced here; their SHA-256 "
        "fingerprint ",
    ),
    "source_end": (
        " prouve qu'elles n'ont pas changé depuis.",
        " proves they have not changed since.",
    ),
    "item3": (
        "3. Paramètres du traitement et leur pondération appliqués à votre situation",
        "3. Processing parameters and their weighting applied to your situation",
    ),
    "factors": (
        "Éléments pris en compte par le système et leur poids dans sa proposition :",
        "What the system took into account and its weight in the suggestion:",
    ),
    "weight": ("poids {}", "weight {}"),
    "terms": (
        "Termes de votre situation pris en compte par le système et leur contribution à sa "
        "proposition (positive : en sa faveur ; négative : en sa défaveur) :",
        "Terms of your situation the system took into account and their contribution to its "
        "suggestion (positive: for it; negative: against it):",
    ),
    "contribution": ("contribution {}", "contribution {}"),
    "occurrences": ("valeur : {}", "value: {}"),
    "ai_sources": ("Sources utilisées par le système : ", "Sources the system used: "),
    "said": ("Explication donnée par le système : « {} »", "The system's explanation: “{}”"),
    "no_factors": (
        "Le système n'a pas détaillé les paramètres de sa proposition.",
        "The system did not detail the parameters of its suggestion.",
    ),
    "no_ai_params": (
        "Sans traitement algorithmique, aucun paramètre automatique n'a été appliqué.",
        "Without algorithmic processing, no automatic parameter was applied.",
    ),
    "masked": ("(donnée de votre dossier)", "(data of your file)"),
    "item4": ("4. Opérations effectuées", "4. Operations carried out"),
    "received": ("{} : demande enregistrée", "{}: request recorded"),
    "suggested": (" et proposition du système reçue", " and the system's suggestion received"),
    "verdict": ("{} : {} {}.", "{}: {} {}."),
    "final": ("{} : la décision devient définitive.", "{}: the decision becomes final."),
    "expired": ("{} : le délai d'examen expire ; aucun effet.", "{}: review deadline passed."),
    "trail": (
        "Chaque opération est inscrite dans un journal d'audit chaîné et scellé.",
        "Every operation is written to a chained, sealed audit trail.",
    ),
    "who": ("Validation humaine", "Human validation"),
    "validated_by": ("Décision validée par : {}.", "Decision validated by: {}."),
    "rejected_by": ("Proposition rejetée par : {}.", "Suggestion rejected by: {}."),
    "nobody": ("Aucun agent n'a validé cette décision.", "No agent validated this decision."),
    "notice": (
        "Mention d'information (article L311-3-1 du CRPA)",
        "Notice (article L311-3-1 of the French CRPA)",
    ),
    "no_notice": (
        "Vous pouvez obtenir la communication des règles définissant ce traitement et des "
        "principales caractéristiques de sa mise en œuvre auprès de l'administration qui a pris "
        "la décision.",
        "You may obtain the rules defining this processing and the main features of its "
        "implementation from the administration that took the decision.",
    ),
}


@dataclass(frozen=True)
class Factor:
    """One parameter an AI system weighed, from a structured explanation."""

    name: str
    weight: float | None
    detail: str


def _i(language: str) -> int:
    return 1 if language == "en" else 0


def parse_factors(explanation: str) -> tuple[str, list[Factor]]:
    """Reads an AI system's explanation.

    Args:
        explanation: Free text, or JSON ``{"summary": ..., "factors": [{"name": ...,
            "weight": ..., "detail": ...}]}`` for a structured explanation.

    Returns:
        The summary (the text itself when it is not structured) and the factors, if any.
    """
    try:
        data = json.loads(explanation)
    except ValueError:
        return explanation, []
    if not isinstance(data, dict) or not isinstance(data.get("factors"), list):
        return explanation, []
    factors = []
    for item in data["factors"]:
        if isinstance(item, dict) and (item.get("name") or item.get("factor")):
            weight = item.get("weight")
            number = isinstance(weight, int | float) and not isinstance(weight, bool)
            factors.append(
                Factor(
                    str(item.get("name") or item.get("factor")),
                    float(weight) if number and weight is not None else None,
                    str(item.get("detail") or item.get("effect") or ""),
                )
            )
    return str(data.get("summary") or ""), factors


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, str) and len(value.strip()) >= 3:
        yield value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool) and len(str(value)) >= 2:
        yield str(value)


def mask_input(text: str, input: Mapping[str, Any], mask: str) -> str:
    """Masks the input's values in a text: the citizen's explanation names data, never repeats it.

    Args:
        text: E.g. the AI's explanation.
        input: The decision's input; its strings of 3+ characters and its numbers of 2+
            characters are masked where they appear as whole words.
        mask: What replaces them.

    Returns:
        The text, masked.
    """
    for value in sorted(set(_scalars(input)), key=len, reverse=True):
        text = re.sub(rf"(?<![\w.,]){re.escape(value)}(?![\w]|[.,]\d)", mask, text, flags=re.I)
    return text


def percent(value: float, language: str) -> str:
    """82 % in French, 82% in English."""
    return f"{round(value * 100)}{'%' if language == 'en' else ' %'}"


def role_names(roles: Sequence[str], language: str) -> str:
    """Roles in words, e.g. "agent chargé de la supervision"; never the agent's identity."""
    other = "an agent ({})" if language == "en" else "un agent ({})"
    words = [_ROLES[r][_i(language)] if r in _ROLES else other.format(r) for r in roles]
    return ", ".join(words) or other.format("?")


def _model(d: Decision) -> str:
    s = d.suggestion
    if s is None:
        return ""
    return f"{s.model_name or '?'}{'@' + s.model_version if s.model_version else ''}"


def _text(key: str, language: str) -> str:
    return _C[key][_i(language)]


def _contribution(doc: Document, d: Decision, language: str) -> None:
    """Item 1: degree and mode of the algorithm's contribution."""
    s = d.suggestion
    if s is None:
        doc.p(_text("no_ai", language))
        return
    conf = "" if s.confidence is None else percent(s.confidence, language)
    conf = _text("confidence", language).format(conf) if conf else ""
    doc.p(_text("ai", language).format(_model(d), conf, d.required_approvals))
    doc.p(_DEGREE[d.state][_i(language)])


def _parameters(doc: Document, d: Decision, language: str) -> None:
    """Item 3: the parameters the AI weighed, its explanation; the input's values masked."""
    s = d.suggestion
    if s is None:
        doc.p(_text("no_ai_params", language))
        return
    mask = _text("masked", language)
    if s.factors:  # weighed terms given by the AI system itself (an Advisor, a backend)
        doc.p(_text("terms", language))
        for term in s.factors:
            value = _text("occurrences", language).format(term.value) if term.value else ""
            weight = f"{term.weight:+.2f}"
            contribution = _text("contribution", language).format(
                weight if language == "en" else weight.replace(".", ",")
            )
            text = f"{term.name} — {contribution}{f' ({value})' if value else ''}"
            doc.li(mask_input(text, d.input, mask))
    summary, factors = parse_factors(s.explanation)
    if factors:
        doc.p(_text("factors", language))
    for f in factors:
        weight = (
            ""
            if f.weight is None
            else _text("weight", language).format(percent(f.weight, language))
        )
        detail = f"{' :' if language != 'en' else ':'} {f.detail}" if f.detail else ""
        doc.li(mask_input(f"{f.name}{' — ' + weight if weight else ''}{detail}", d.input, mask))
    if summary.strip():
        doc.p(_text("said", language).format(mask_input(summary.strip(), d.input, mask)))
    elif not factors and not s.factors:
        doc.p(_text("no_factors", language))


def _operations(doc: Document, d: Decision, language: str) -> None:
    """Item 4: what was done and when, each agent named by role only."""
    received = _text("received", language).format(when(d.created_at, language))
    doc.li(received + (_text("suggested", language) if d.suggestion else "") + ".")
    for r in d.reviews:
        roles = role_names(r.reviewer_roles, language)
        verdict = _VERDICT[r.verdict][_i(language)]
        doc.li(_text("verdict", language).format(when(r.decided_at, language), roles, verdict))
    if d.finalized_at is not None and d.state is DecisionState.EXPIRED:
        doc.li(_text("expired", language).format(when(d.finalized_at, language)))
    elif d.finalized_at is not None and d.state.takes_effect:
        doc.li(_text("final", language).format(when(d.finalized_at, language)))
    doc.p(_text("trail", language))


def _validators(d: Decision, language: str) -> str:
    """Who validated (or rejected) the decision, by role."""
    if d.state in (DecisionState.APPROVED, DecisionState.AMENDED):
        held = {
            role for r in d.reviews if r.verdict is not Verdict.REJECT for role in r.reviewer_roles
        }
        return _text("validated_by", language).format(role_names(sorted(held), language))
    held = {role for r in d.reviews if r.verdict is Verdict.REJECT for role in r.reviewer_roles}
    if held:
        return _text("rejected_by", language).format(role_names(sorted(held), language))
    return _text("nobody", language)


def explain_for_citizen(
    d: Decision, policy: ReviewPolicy | None, language: str, fmt: TextFormat = "markdown"
) -> str:
    """Explains a decision to the person concerned (CRPA R311-3-1-2, L311-3-1).

    The four items of R311-3-1-2, who validated the decision (by role), and the notice of the
    decision type. The input's values, the agents' identities and their notes are never shown.

    Args:
        d: The decision, with its reviews.
        policy: The policy of its type (for the notice); None when it is no longer configured.
        language: "fr" (the default for anything else) or "en".
        fmt: "markdown", or "html" for a self-contained page.

    Returns:
        The explanation in the requested format.
    """
    lang = "en" if language == "en" else "fr"

    def t(key: str) -> str:
        return _text(key, lang)

    doc = Document(t("title"), lang)
    doc.h1(t("title"))
    doc.p(t("ref"), Code(str(d.id)), t("of"), when(d.created_at, lang))
    doc.p(t("state").format(_STATE[d.state][_i(lang)]))
    doc.h2(t("item1"))
    _contribution(doc, d, lang)
    doc.h2(t("item2"))
    fields: list[Inline] = [t("fields")]
    for n, name in enumerate(sorted(d.input)):
        fields += [", " if n else "", Code(name)]
    doc.p(*fields, ".")
    doc.p(t("source"), Code(d.input_sha256), t("source_end"))
    if d.suggestion is not None and d.suggestion.sources:
        doc.p(t("ai_sources"), " ; ".join(d.suggestion.sources), ".")
    doc.h2(t("item3"))
    _parameters(doc, d, lang)
    doc.h2(t("item4"))
    _operations(doc, d, lang)
    doc.h2(t("who"))
    doc.p(_validators(d, lang))
    doc.h2(t("notice"))
    doc.p(policy.notice_text(lang)[1] if policy is not None else t("no_notice"))
    return doc.render(fmt)
