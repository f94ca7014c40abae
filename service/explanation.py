"""Explanations of one decision: the four items of CRPA R311-3-1-2 for the citizen, the record
for an inspector. Markdown, from what the record holds and nothing more."""

from __future__ import annotations

import json
from typing import Any

from aval.audit_store.chain import utc_iso
from aval.audit_store.records import AuditEvent, Decision, DecisionState, Verdict
from aval.policies import ReviewPolicy

_STATE = {
    "fr": {
        DecisionState.PENDING_REVIEW: "en attente de validation humaine",
        DecisionState.APPROVED: "validée par un agent telle que suggérée",
        DecisionState.AMENDED: "validée par un agent après modification de la suggestion",
        DecisionState.REJECTED: "rejetée par un agent",
        DecisionState.EXPIRED: "expirée sans validation (elle ne produit aucun effet)",
        DecisionState.WITHDRAWN: "retirée",
    },
    "en": {
        DecisionState.PENDING_REVIEW: "awaiting human validation",
        DecisionState.APPROVED: "validated by an agent as suggested",
        DecisionState.AMENDED: "validated by an agent after changing the suggestion",
        DecisionState.REJECTED: "rejected by an agent",
        DecisionState.EXPIRED: "expired unvalidated (it has no effect)",
        DecisionState.WITHDRAWN: "withdrawn",
    },
}

_CITIZEN: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "Explication de la décision",
        "confidence": " (confiance {c:.0%})",
        "state": "État de la décision : {state}.",
        "item1": "1. Degré et mode de contribution du traitement algorithmique",
        "item1_ai": (
            "Un système d'intelligence artificielle ({model}) a proposé une suggestion{conf}. "
            "Cette suggestion n'est qu'une aide : {n} agent(s) habilité(s) devai(en)t l'examiner "
            "et pouvai(en)t l'approuver, la modifier ou la rejeter."
        ),
        "item1_none": "Aucune suggestion automatique n'a été utilisée : un agent a décidé seul.",
        "item2": "2. Données traitées et leurs sources",
        "item2_text": (
            "Les données de votre demande transmises par l'application de la collectivité "
            "(empreinte SHA-256 : `{sha}`) : {fields}."
        ),
        "item3": "3. Paramètres de traitement et leur pondération appliqués à votre situation",
        "item3_none": "Le système n'a pas fourni d'explication détaillée de sa suggestion.",
        "item4": "4. Opérations effectuées",
        "proposed": "- {at} : demande enregistrée et suggestion reçue.",
        "review": "- {at} : un agent ({roles}) a {verdict}.",
        "expired": "- {at} : le délai d'examen a expiré ; la décision ne produit aucun effet.",
        "verdicts": {"APPROVE": "approuvé", "AMEND": "modifié", "REJECT": "rejeté"},
        "notice": "Mention d'information",
    },
    "en": {
        "title": "Explanation of the decision",
        "confidence": " (confidence {c:.0%})",
        "state": "State of the decision: {state}.",
        "item1": "1. Degree and mode of the algorithmic processing's contribution",
        "item1_ai": (
            "An AI system ({model}) made a suggestion{conf}. The suggestion is only an aid: "
            "{n} authorised agent(s) had to examine it and could approve, change or reject it."
        ),
        "item1_none": "No automatic suggestion was used: an agent decided alone.",
        "item2": "2. Data processed and their sources",
        "item2_text": (
            "The data of your request sent by the authority's application "
            "(SHA-256 fingerprint: `{sha}`): {fields}."
        ),
        "item3": "3. Processing parameters and their weighting applied to your situation",
        "item3_none": "The system gave no detailed explanation of its suggestion.",
        "item4": "4. Operations carried out",
        "proposed": "- {at}: request recorded and suggestion received.",
        "review": "- {at}: an agent ({roles}) {verdict}.",
        "expired": "- {at}: the review deadline passed; the decision has no effect.",
        "verdicts": {"APPROVE": "approved", "AMEND": "changed it", "REJECT": "rejected"},
        "notice": "Notice",
    },
}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _lang(language: str) -> str:
    return language if language in _CITIZEN else "fr"


def explain_for_citizen(d: Decision, policy: ReviewPolicy | None, language: str) -> str:
    """Plain-language explanation with the four items of CRPA R311-3-1-2 and the notice."""
    lang = _lang(language)
    t = _CITIZEN[lang]
    lines = [f"# {t['title']}", "", t["state"].format(state=_STATE[lang][d.state]), ""]
    lines += [f"## {t['item1']}", ""]
    if d.suggestion:
        model = f"{d.suggestion.model_name} {d.suggestion.model_version}".strip() or "?"
        conf = (
            t["confidence"].format(c=d.suggestion.confidence)
            if d.suggestion.confidence is not None
            else ""
        )
        lines.append(t["item1_ai"].format(model=model, conf=conf, n=d.required_approvals))
    else:
        lines.append(t["item1_none"])
    fields = ", ".join(f"`{k}`" for k in sorted(d.input)) or "—"
    lines += ["", f"## {t['item2']}", "", t["item2_text"].format(sha=d.input_sha256, fields=fields)]
    lines += ["", f"## {t['item3']}", ""]
    lines.append(
        d.suggestion.explanation if d.suggestion and d.suggestion.explanation else t["item3_none"]
    )
    lines += ["", f"## {t['item4']}", "", t["proposed"].format(at=utc_iso(d.created_at))]
    for r in d.reviews:
        lines.append(
            t["review"].format(
                at=utc_iso(r.decided_at),
                roles=", ".join(r.reviewer_roles),
                verdict=t["verdicts"][r.verdict.value],
            )
        )
    if d.state is DecisionState.EXPIRED and d.finalized_at:
        lines.append(t["expired"].format(at=utc_iso(d.finalized_at)))
    if policy is not None and d.state.takes_effect:
        lines += ["", f"## {t['notice']}", "", policy.notice_text(lang)[1]]
    return "\n".join(lines) + "\n"


def explain_for_inspector(
    d: Decision, policy: ReviewPolicy | None, events: list[AuditEvent], language: str
) -> str:
    """The full record of a decision and its audit events (English field names)."""
    s = d.suggestion
    lines = [
        f"# Decision {d.id}",
        "",
        f"- tenant: {d.tenant_id}; type: {d.decision_type}; subject: {d.subject_ref}",
        f"- state: {d.state.value} (version {d.version}); approvals {d.approvals}/"
        f"{d.required_approvals}; rejections {d.rejections}/{d.rejections_to_close}",
        f"- proposed by {d.proposer_id} at {utc_iso(d.created_at)}; deadline {utc_iso(d.deadline)}",
        f"- input sha256: {d.input_sha256}; idempotency key: {d.idempotency_key}",
        f"- policy revision: {d.policy_revision}"
        + (
            ""
            if policy is None or policy.revision == d.policy_revision
            else f" (current revision: {policy.revision})"
        ),
        f"- trace id: {d.trace_id or '—'}",
        "",
        "## Suggestion",
        "",
    ]
    if s:
        lines += [
            f"- model: {s.model_name or '?'} {s.model_version}",
            f"- confidence: {s.confidence if s.confidence is not None else '—'}",
            f"- output: `{_json(s.output)}`",
            f"- explanation: {s.explanation or '—'}",
        ]
    else:
        lines.append("- none: decided without AI")
    lines += ["", "## Human verdicts", ""]
    for r in d.reviews:
        overrode = r.verdict is not Verdict.APPROVE
        lines.append(
            f"- {utc_iso(r.decided_at)} {r.reviewer_id} ({', '.join(r.reviewer_roles)}): "
            f"{r.verdict.value}{' — overrode the AI' if overrode else ''}; "
            f"justification: {r.justification or '—'}"
            + (f"; amended output: `{_json(r.amended_output)}`" if r.amended_output else "")
        )
    if not d.reviews:
        lines.append("- none yet")
    if d.outcome is not None:
        lines += ["", f"Outcome: `{_json(d.outcome)}`"]
    lines += ["", "## Audit events", ""]
    lines += [
        f"- #{e.seq} {utc_iso(e.occurred_at)} {e.kind} by {e.actor_id} ({e.actor_type}) "
        f"hash {e.hash.hex()[:16]}…"
        for e in events
    ]
    return "\n".join(lines) + "\n"
