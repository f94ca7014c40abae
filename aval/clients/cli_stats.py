"""``aval audit stats`` and ``aval audit explain --html``: statistics and reports for inspectors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aval.clients.cli_session import AddCommand, Session
from aval.clients.messages import Language, Messages
from aval.clients.stats_report import Settings, percent, render_html, table_rows
from aval.service.audit.report_html import duration

DEFAULT_APPROVAL_RATE, DEFAULT_REVIEW_SECONDS = 0.95, 30.0

TEXTS: dict[Language, dict[str, str]] = {
    "fr": {
        "help.tenants": "plusieurs collectivités séparées par des virgules (inspection mutualisée)",
        "help.since": "décisions proposées depuis cette date (AAAA-MM-JJ[THH:MM], heure locale)",
        "help.until": "décisions proposées avant cette date",
        "help.html": "écrire aussi un rapport HTML autonome dans ce fichier",
        "help.explain_html": "écrire l'explication en HTML autonome dans ce fichier",
        "help.rate": "seuil du taux d'approbation pour l'alerte (0 à 1, défaut 0,95)",
        "help.seconds": "seuil de la durée médiane d'examen pour l'alerte, en secondes (défaut 30)",
        "bad_moment": "date invalide {value!r} : attendu AAAA-MM-JJ ou AAAA-MM-JJTHH:MM",
        "bad_rate": "taux invalide {value!r} : attendu un nombre entre 0 et 1",
        "written": "Rapport écrit dans {path}",
        "unwritable": "impossible d'écrire {path} : {error}",
        "title": "Statistiques de validation humaine",
        "meta": "Collectivités : {tenants}",
        "period": "Décisions proposées {since} {until}",
        "since": "depuis le {when}",
        "until": "jusqu'au {when} (exclu)",
        "all_time": "depuis le début",
        "generated": "généré le {when}",
        "thresholds": (
            "Alerte d'approbation machinale : taux d'approbation ≥ {rate} et durée médiane "
            "d'examen < {time}"
        ),
        "empty": "Aucune décision sur la période.",
        "no_model": "sans IA",
        "flag": "⚠ approbation machinale ?",
        "col.tenant": "COLLECTIVITÉ",
        "col.decision_type": "TYPE DE DÉCISION",
        "col.model": "MODÈLE",
        "col.reviewer": "AGENT",
        "cols.group": (
            "DÉCISIONS|APPROUVÉES|AMENDÉES|REJETÉES|EXPIRÉES|EN ATTENTE|DÉROGATION|ACCORD IA"
            "|DÉLAI MÉDIAN|DÉLAI P90"
        ),
        "cols.reviewer": (
            "AVIS|APPROUVE|AMENDE|REJETTE|TAUX D'APPROBATION|EXAMEN MÉDIAN|ACCORD IA|ALERTE"
        ),
        "table.tenant": "Par collectivité",
        "table.decision_type": "Par type de décision",
        "table.model": "Par modèle d'IA",
        "table.reviewer": "Par agent",
        "card.decisions": "décisions",
        "card.pending": "en attente de validation",
        "card.reviewers": "agents ayant rendu un avis",
        "card.flagged": "alertes d'approbation machinale",
        "chart.override": "Taux de dérogation par type de décision",
        "chart.override_help": (
            "Part des décisions définitives où un agent a modifié ou rejeté la proposition de l'IA."
        ),
        "chart.ttd": "Délai de décision par type (de la proposition à la décision définitive)",
        "median": "médiane",
        "p90": "90e centile",
        "chart.agreement": "Accord entre l'IA et les agents, par modèle",
        "chart.agreement_help": "Part des avis qui approuvent la proposition de l'IA telle quelle.",
        "chart.reviewers": "Agents : taux d'approbation et durée médiane d'examen",
        "chart.reviewers_help": (
            "Durée depuis la prise en charge (ou la proposition) jusqu'à l'avis, échelle "
            "logarithmique. En rouge : agents dont le profil évoque une approbation machinale."
        ),
        "zone": "zone d'alerte : approbation ≥ seuil, examen < seuil",
        "flagged": "agent signalé",
        "others": "autre agent",
        "axis_x": "durée médiane d'examen",
        "axis_y": "taux d'approbation",
        "no_reviewers": "Aucun avis sur la période.",
        "footer": (
            "Rapport Aval, {when}. Les alertes signalent un profil à examiner avec l'agent, "
            "pas une faute (RGPD art. 22, AI Act art. 14)."
        ),
    },
    "en": {
        "help.tenants": "several tenants, comma-separated (pooled inspection)",
        "help.since": "decisions proposed from this date on (YYYY-MM-DD[THH:MM], local time)",
        "help.until": "decisions proposed before this date",
        "help.html": "also write a self-contained HTML report to this file",
        "help.explain_html": "write the explanation as a self-contained HTML page to this file",
        "help.rate": "approval rate threshold of the alert (0 to 1, default 0.95)",
        "help.seconds": "median review time threshold of the alert, in seconds (default 30)",
        "bad_moment": "invalid date {value!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM",
        "bad_rate": "invalid rate {value!r}: expected a number between 0 and 1",
        "written": "Report written to {path}",
        "unwritable": "cannot write {path}: {error}",
        "title": "Human validation statistics",
        "meta": "Tenants: {tenants}",
        "period": "Decisions proposed {since} {until}",
        "since": "from {when}",
        "until": "until {when} (excluded)",
        "all_time": "since the beginning",
        "generated": "generated on {when}",
        "thresholds": (
            "Rubber-stamping alert: approval rate ≥ {rate} and median review time < {time}"
        ),
        "empty": "No decision in the period.",
        "no_model": "no AI",
        "flag": "⚠ rubber-stamping?",
        "col.tenant": "TENANT",
        "col.decision_type": "DECISION TYPE",
        "col.model": "MODEL",
        "col.reviewer": "REVIEWER",
        "cols.group": (
            "DECISIONS|APPROVED|AMENDED|REJECTED|EXPIRED|PENDING|OVERRIDE|AI AGREEMENT"
            "|MEDIAN TIME|P90 TIME"
        ),
        "cols.reviewer": (
            "VERDICTS|APPROVE|AMEND|REJECT|APPROVAL RATE|MEDIAN REVIEW|AI AGREEMENT|ALERT"
        ),
        "table.tenant": "By tenant",
        "table.decision_type": "By decision type",
        "table.model": "By AI model",
        "table.reviewer": "By reviewer",
        "card.decisions": "decisions",
        "card.pending": "awaiting validation",
        "card.reviewers": "reviewers who gave a verdict",
        "card.flagged": "rubber-stamping alerts",
        "chart.override": "Override rate by decision type",
        "chart.override_help": (
            "Share of final decisions where an agent amended or rejected the AI's suggestion."
        ),
        "chart.ttd": "Time to decision by type (from proposal to final decision)",
        "median": "median",
        "p90": "90th percentile",
        "chart.agreement": "Agreement between the AI and the agents, by model",
        "chart.agreement_help": "Share of verdicts approving the AI's suggestion unchanged.",
        "chart.reviewers": "Reviewers: approval rate and median review time",
        "chart.reviewers_help": (
            "Time from their claim (or the proposal) to their verdict, logarithmic scale. In "
            "red: reviewers whose pattern looks like rubber-stamping."
        ),
        "zone": "alert zone: approval ≥ threshold, review < threshold",
        "flagged": "flagged reviewer",
        "others": "other reviewer",
        "axis_x": "median review time",
        "axis_y": "approval rate",
        "no_reviewers": "No verdict in the period.",
        "footer": (
            "Aval report, {when}. An alert points to a pattern to discuss with the reviewer, "
            "not a fault (GDPR art. 22, AI Act art. 14)."
        ),
    },
}


def _moment(texts: dict[str, str]) -> Callable[[str], datetime]:
    def parse(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(texts["bad_moment"].format(value=value)) from None
        return moment.astimezone() if moment.tzinfo is None else moment  # naive: local time

    return parse


def _rate(texts: dict[str, str]) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise argparse.ArgumentTypeError(texts["bad_rate"].format(value=value))
        return rate

    return parse


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0.0 <= seconds < float("inf"):
        raise ValueError(value)
    return seconds


def add_commands(
    audit: Any, explain: argparse.ArgumentParser, add: AddCommand, t: Messages
) -> None:
    """Adds ``audit stats`` and the ``--html`` option of ``audit explain``.

    Args:
        audit: The subcommands of ``audit``.
        explain: The parser of ``audit explain``.
        add: The parser's helper that adds one command with its help text.
        t: The texts of help and errors.
    """
    texts = TEXTS[t.language]
    explain.add_argument("--html", metavar="FILE", help=texts["help.explain_html"])
    stats = add(audit, "stats", "help.stats")
    which = stats.add_mutually_exclusive_group()
    which.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    which.add_argument("--tenants", default="", metavar="T1,T2", help=texts["help.tenants"])
    stats.add_argument("--since", type=_moment(texts), metavar="D", help=texts["help.since"])
    stats.add_argument("--until", type=_moment(texts), metavar="D", help=texts["help.until"])
    stats.add_argument("--html", metavar="FILE", help=texts["help.html"])
    stats.add_argument(
        "--approval-rate", type=_rate(texts), default=0.0, metavar="X", help=texts["help.rate"]
    )
    stats.add_argument(
        "--review-seconds", type=_seconds, default=0.0, metavar="S", help=texts["help.seconds"]
    )
    stats.set_defaults(command="audit stats")


def _write(s: Session, path: str, text: str) -> int:
    texts = TEXTS[s.t.language]
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        reason = texts["unwritable"].format(path=path, error=err.strerror or err)
        print(f"{s.t('error')}: {reason}", file=sys.stderr)
        return 1
    if not s.args.json:
        print(texts["written"].format(path=path))
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]


def settings(s: Session, tenants: Sequence[str]) -> Settings:
    """What the report says it covers: tenants, period, time of generation and thresholds."""
    texts, lang = TEXTS[s.t.language], s.t.language
    a = s.args

    def spelled(moment: datetime) -> str:
        precise = ":%S" if moment.second or moment.microsecond else ""
        return moment.astimezone().strftime(f"%Y-%m-%d %H:%M{precise} %Z")

    since = texts["since"].format(when=spelled(a.since)) if a.since else texts["all_time"]
    until = texts["until"].format(when=spelled(a.until)) if a.until else ""
    return Settings(
        language=lang,
        texts=texts,
        tenants=tenants,
        period=texts["period"].format(since=since, until=until).strip(),
        generated=spelled(datetime.now().astimezone()),
        approval_rate=a.approval_rate or DEFAULT_APPROVAL_RATE,
        review_seconds=a.review_seconds or DEFAULT_REVIEW_SECONDS,
    )


def audit_stats(s: Session) -> int:
    """``aval audit stats``: a table per dimension, JSON, or an HTML report with charts."""
    a = s.args
    tenants = [name.strip() for name in a.tenants.split(",") if name.strip()]
    response = s.client.get_stats(
        tenant=a.tenant,
        tenants=tenants,
        since=a.since,
        until=a.until,
        rubber_stamp_approval_rate=a.approval_rate,
        rubber_stamp_review_seconds=a.review_seconds,
    )
    shown = sorted({r.tenant for r in response.rows}) or tenants or [a.tenant]
    report = settings(s, [name for name in shown if name])
    if a.json:
        s.show.json(response)
    else:
        texts, lang = report.texts, report.language
        print(texts["title"], "—", report.period)
        rate, time = percent(report.approval_rate, lang), duration(report.review_seconds, lang)
        print(texts["thresholds"].format(rate=rate, time=time))
        if not response.rows:
            print(texts["empty"])
        several = len({r.tenant for r in response.rows}) > 1
        for dimension in ("tenant", "decision_type", "model", "reviewer"):
            header, cells = table_rows(response.rows, dimension, report, several)
            if cells:
                print(f"\n{texts[f'table.{dimension}']}")
                for line in _table(header, [c for c, _ in cells]):
                    print(line)
    return _write(s, a.html, render_html(response.rows, report)) if a.html else 0


def audit_explain_html(s: Session) -> int:
    """``aval audit explain ID --html FILE``: the explanation as a self-contained HTML page."""
    a = s.args
    response = s.client.explain_decision(
        a.id, audience=a.audience, language=s.t.language, tenant=a.tenant, text_format="html"
    )
    if a.json:
        s.show.json(response)
    return _write(s, a.html, response.text)
