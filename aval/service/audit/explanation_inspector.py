"""The full record of one decision for an inspector: input, AI, policy, verdicts, trail, proofs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aval import texts
from aval.audit_store.records import Decision, Review, Verdict
from aval.policies import ReviewPolicy
from aval.service.audit.explanation import parse_factors
from aval.service.audit.report_html import Code, Document, Inline, TextFormat, when
from aval.texts import duration
from aval.verifier.events import AuditEvent

# The labels of the record: aval/texts/data/inspection.toml.
_LABELS = texts.load("inspection")


@dataclass(frozen=True)
class EventProof:
    """An event's RFC 9162 inclusion proof against a signed checkpoint (hex hashes)."""

    seq: int
    leaf_index: int
    tree_size: int
    root_hash: str
    audit_path: tuple[str, ...]


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def review_started(review: Review, events: Sequence[AuditEvent]) -> datetime | None:
    """When a reviewer's review began, if they claimed the decision before their verdict.

    Args:
        review: The verdict.
        events: The decision's audit events.

    Returns:
        The time of the reviewer's first ``decision.claimed`` event before the verdict, or None
        (their review time then runs from the proposal).
    """
    claims = [
        e.occurred_at
        for e in events
        if e.kind == "decision.claimed"
        and e.actor_id == review.reviewer_id
        and e.occurred_at <= review.decided_at
    ]
    return min(claims, default=None)


def _when(moment: datetime, language: str) -> str:
    return when(moment, language, seconds=True)


def _joined(values: Sequence[str]) -> list[Inline]:
    parts: list[Inline] = []
    for n, value in enumerate(values):
        parts += [", " if n else "", Code(value)]
    return parts


def _policy(doc: Document, d: Decision, policy: ReviewPolicy | None, lang: str) -> None:
    t = texts.Texts(_LABELS, "en" if lang == "en" else "fr")

    doc.h2(t("policy"))
    doc.li(t("revision"), Code(d.policy_revision))
    if policy is None:
        doc.li(t("missing"))
        return
    if policy.revision != d.policy_revision:
        doc.li(t("current"), Code(policy.revision))
    rules = {
        "required_approvals": policy.required_approvals,
        "rejections_to_close": policy.rejections_to_close,
        "eligible_roles": list(policy.eligible_roles),
        "allow_amend": policy.allow_amend,
        "justification_required_for": sorted(policy.justification_required_for),
        "deadline_seconds": policy.deadline.total_seconds(),
    }
    doc.li(t("rules"), Code(_json(rules)))


def _verdicts(doc: Document, d: Decision, events: Sequence[AuditEvent], lang: str) -> None:
    t = texts.Texts(_LABELS, "en" if lang == "en" else "fr")

    doc.h2(t("verdicts"))
    for r in d.reviews:
        started = review_started(r, events)
        took = (r.decided_at - (started or d.created_at)).total_seconds()
        since = t("from_claim") if started else t("from_proposal")
        overrode = t("yes" if r.verdict is not Verdict.APPROVE else "no")
        doc.li(Code(r.reviewer_id), f" — {r.verdict.value}{t('at')}{_when(r.decided_at, lang)}")
        doc.li(t("roles"), *_joined(r.reviewer_roles), level=1)
        doc.li(t("took"), duration(took, lang), since, level=1)
        doc.li(t("overrode"), overrode, level=1)
        doc.li(t("why"), f"« {r.justification} »" if r.justification else "—", level=1)
        if r.amended_output is not None:
            doc.li(t("amended"), Code(_json(r.amended_output)), level=1)
    if not d.reviews:
        doc.li(t("none"))


def _events(
    doc: Document, events: Sequence[AuditEvent], proofs: Mapping[int, EventProof], lang: str
) -> None:
    t = texts.Texts(_LABELS, "en" if lang == "en" else "fr")

    doc.h2(t("events"))
    for e in events:
        doc.li(
            f"{t('seq')}{e.seq} — {_when(e.occurred_at, lang)} — ",
            Code(e.kind),
            t("by"),
            Code(e.actor_id),
            f" ({e.actor_type}) — hash ",
            Code(e.hash.hex()),
        )
        proof = proofs.get(e.seq)
        if proof is not None:
            doc.li(
                f"{t('proof')}{proof.leaf_index}{t('tree')}{proof.tree_size}{t('root')}",
                Code(proof.root_hash),
                t("path"),
                *_joined(proof.audit_path),
                level=1,
            )
        elif proofs:
            doc.li(t("no_proof"), level=1)
    if not proofs:
        doc.p(t("no_proofs"))


def explain_for_inspector(
    d: Decision,
    policy: ReviewPolicy | None,
    events: list[AuditEvent],
    language: str,
    fmt: TextFormat = "markdown",
    proofs: Mapping[int, EventProof] | None = None,
) -> str:
    """The full record of a decision and its trail, for an inspector (R3, R4, R16).

    Input reference, hash and data sources (field names); model, suggestion, confidence and
    explanation; the policy and its revision; each verdict with who, roles, when, how long and
    why, and whether it overrode the AI; the outcome, the trace id, and the audit events.

    Args:
        d: The decision, with its reviews.
        policy: The current policy of its type; None when it is no longer configured.
        events: The decision's audit events, in sequence order.
        language: "fr" (the default for anything else) or "en".
        fmt: "markdown", or "html" for a self-contained page.
        proofs: Inclusion proofs by event sequence number, listed under their events; events
            without one are said to come after the latest checkpoint. None: no proofs given.

    Returns:
        The record in the requested format.
    """
    t = texts.Texts(_LABELS, "en" if language == "en" else "fr")

    doc = Document(f"{t('title')} {d.id}", t.language)
    doc.h1(t("title"), " ", Code(str(d.id)))
    doc.h2(t("decision"))
    doc.li(t("tenant"), Code(d.tenant_id), "; ", t("type"), Code(d.decision_type))
    doc.li(t("state"), Code(d.state.value), f"{t('version')}{d.version}")
    doc.li(
        f"{t('approvals')}{d.approvals}/{d.required_approvals}; "
        f"{t('rejections')}{d.rejections}/{d.rejections_to_close}"
    )
    doc.li(t("proposed"), Code(d.proposer_id), f"{t('at')}{_when(d.created_at, language)}")
    doc.li(t("deadline"), _when(d.deadline, language))
    if d.finalized_at is not None:
        ttd = duration((d.finalized_at - d.created_at).total_seconds(), language)
        doc.li(f"{t('final')}{_when(d.finalized_at, language)}; {t('ttd')}{ttd}")
    doc.li(t("key"), Code(d.idempotency_key))
    doc.li(t("trace"), Code(d.trace_id) if d.trace_id else "—")
    doc.h2(t("input"))
    doc.li(t("ref"), Code(d.subject_ref))
    doc.li(t("hash"), Code(d.input_sha256))
    doc.li(t("sources"), *_joined(sorted(d.input)), t("sent_by"), Code(d.proposer_id))
    doc.h2(t("ai"))
    s = d.suggestion
    if s is None:
        doc.li(t("no_ai"))
    else:
        doc.li(t("model"), Code(f"{s.model_name or '?'}@{s.model_version or '?'}"))
        doc.li(t("confidence"), "—" if s.confidence is None else f"{s.confidence:g}")
        doc.li(t("output"), Code(_json(s.output)))
        summary, factors = parse_factors(s.explanation)
        doc.li(t("explanation"), f"« {summary} »" if summary else "—")
        for f in factors:
            weight = "" if f.weight is None else f"{t('weight')}{f.weight:g}"
            doc.li(t("factor"), Code(f.name), weight, f" — {f.detail}" if f.detail else "", level=1)
    _policy(doc, d, policy, language)
    _verdicts(doc, d, events, language)
    doc.h2(t("outcome"))
    doc.li(Code(_json(d.outcome)) if d.outcome is not None else t("none"))
    _events(doc, events, proofs or {}, language)
    return doc.render(fmt)
