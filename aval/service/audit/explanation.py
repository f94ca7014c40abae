"""Explanations of one decision: CRPA R311-3-1-2 for the citizen, the full record for inspectors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aval import texts
from aval.audit_store.records import Decision, DecisionState, Verdict
from aval.policies import ReviewPolicy
from aval.service.audit.report_html import Code, Document, Inline, TextFormat, when
from aval.texts import percent
from aval.verifier.chain import parse_json

# The texts of the explanation: aval/texts/data/explanation.toml.
_TEXTS = texts.load("explanation")


@dataclass(frozen=True)
class Factor:
    """One parameter an AI system weighed, from a structured explanation."""

    name: str
    weight: float | None
    detail: str


def parse_factors(explanation: str) -> tuple[str, list[Factor]]:
    """Reads an AI system's explanation.

    Args:
        explanation: Free text, or JSON ``{"summary": ..., "factors": [{"name": ...,
            "weight": ..., "detail": ...}]}`` for a structured explanation.

    Returns:
        The summary (the text itself when it is not structured) and the factors, if any.
    """
    try:
        data = parse_json(explanation)
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


def role_names(roles: Sequence[str], language: str) -> str:
    """Roles in words, e.g. "agent chargé de la supervision"; never the agent's identity."""
    words = [
        _text(f"role.{r}", language)
        if f"role.{r}" in _TEXTS
        else _text("role.other", language, role=r)
        for r in roles
    ]
    return ", ".join(words) or _text("role.other", language, role="?")


def _model(d: Decision) -> str:
    s = d.suggestion
    if s is None:
        return ""
    return f"{s.model_name or '?'}{'@' + s.model_version if s.model_version else ''}"


def _text(key: str, language: str, **params: object) -> str:
    return texts.render(_TEXTS, key, language, **params)


def _contribution(doc: Document, d: Decision, language: str) -> None:
    """Item 1: degree and mode of the algorithm's contribution."""
    s = d.suggestion
    if s is None:
        doc.p(_text("no_ai", language))
        return
    conf = "" if s.confidence is None else percent(s.confidence, language)
    conf = _text("confidence", language, value=conf) if conf else ""
    doc.p(_text("ai", language, model=_model(d), confidence=conf, approvals=d.required_approvals))
    doc.p(_text(f"degree.{d.state.name}", language))


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
            value = _text("occurrences", language, value=term.value) if term.value else ""
            weight = f"{term.weight:+.2f}"
            contribution = _text(
                "contribution",
                language,
                value=weight if language == "en" else weight.replace(".", ","),
            )
            text = f"{term.name} — {contribution}{f' ({value})' if value else ''}"
            doc.li(mask_input(text, d.input, mask))
    summary, factors = parse_factors(s.explanation)
    if factors:
        doc.p(_text("factors", language))
    for f in factors:
        weight = (
            "" if f.weight is None else _text("weight", language, value=percent(f.weight, language))
        )
        detail = f"{' :' if language != 'en' else ':'} {f.detail}" if f.detail else ""
        doc.li(mask_input(f"{f.name}{' — ' + weight if weight else ''}{detail}", d.input, mask))
    if summary.strip():
        doc.p(_text("said", language, text=mask_input(summary.strip(), d.input, mask)))
    elif not factors and not s.factors:
        doc.p(_text("no_factors", language))


def _operations(doc: Document, d: Decision, language: str) -> None:
    """Item 4: what was done and when, each agent named by role only."""
    received = _text("received", language, when=when(d.created_at, language, paris=True))
    doc.li(received + (_text("suggested", language) if d.suggestion else "") + ".")
    for r in d.reviews:
        roles = role_names(r.reviewer_roles, language)
        verdict = _text(f"verdict.{r.verdict.name}", language)
        doc.li(
            _text(
                "verdict",
                language,
                when=when(r.decided_at, language, paris=True),
                roles=roles,
                verdict=verdict,
            )
        )
    if d.finalized_at is not None and d.state is DecisionState.EXPIRED:
        doc.li(_text("expired", language, when=when(d.finalized_at, language, paris=True)))
    elif d.finalized_at is not None and d.state.takes_effect:
        doc.li(_text("final", language, when=when(d.finalized_at, language, paris=True)))
    doc.p(_text("trail", language))


def _validators(d: Decision, language: str) -> str:
    """Who validated (or rejected) the decision, by role."""
    if d.state in (DecisionState.APPROVED, DecisionState.AMENDED):
        held = {
            role for r in d.reviews if r.verdict is not Verdict.REJECT for role in r.reviewer_roles
        }
        return _text("validated_by", language, roles=role_names(sorted(held), language))
    held = {role for r in d.reviews if r.verdict is Verdict.REJECT for role in r.reviewer_roles}
    if held:
        return _text("rejected_by", language, roles=role_names(sorted(held), language))
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
    doc.p(t("ref"), Code(str(d.id)), t("of"), when(d.created_at, lang, paris=True))
    doc.p(_text("state", lang, state=_text(f"state.{d.state.name}", lang)))
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
