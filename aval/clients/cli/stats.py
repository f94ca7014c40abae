"""``aval audit stats`` and ``aval audit explain --html``: statistics and reports for inspectors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aval.clients.cli.messages import Messages
from aval.clients.cli.session import AddCommand, Session
from aval.clients.cli.stats_report import Settings, render_html, table_rows
from aval.texts import Texts, duration, load, percent

DEFAULT_APPROVAL_RATE, DEFAULT_REVIEW_SECONDS = 0.95, 30.0

# The texts of the command and of its report: aval/texts/data/stats.toml.
STATS = load("stats")


def _moment(texts: Texts) -> Callable[[str], datetime]:
    def parse(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(texts("bad_moment", value=value)) from None
        return moment.astimezone() if moment.tzinfo is None else moment  # naive: local time

    return parse


def _rate(texts: Texts) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise argparse.ArgumentTypeError(texts("bad_rate", value=value))
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
    texts = Texts(STATS, t.language)
    explain.add_argument("--html", metavar="FILE", help=texts("help.explain_html"))
    stats = add(audit, "stats", "help.stats")
    which = stats.add_mutually_exclusive_group()
    which.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    which.add_argument("--tenants", default="", metavar="T1,T2", help=texts("help.tenants"))
    stats.add_argument("--since", type=_moment(texts), metavar="D", help=texts("help.since"))
    stats.add_argument("--until", type=_moment(texts), metavar="D", help=texts("help.until"))
    stats.add_argument("--html", metavar="FILE", help=texts("help.html"))
    stats.add_argument(
        "--approval-rate", type=_rate(texts), default=0.0, metavar="X", help=texts("help.rate")
    )
    stats.add_argument(
        "--review-seconds", type=_seconds, default=0.0, metavar="S", help=texts("help.seconds")
    )
    stats.set_defaults(command="audit stats")


def _write(s: Session, path: str, text: str) -> int:
    texts = Texts(STATS, s.t.language)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        reason = texts("unwritable", path=path, error=err.strerror or err)
        print(f"{s.t('error')}: {reason}", file=sys.stderr)
        return 1
    if not s.args.json:
        print(texts("written", path=path))
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
    texts, lang = Texts(STATS, s.t.language), s.t.language
    a = s.args

    def spelled(moment: datetime) -> str:
        precise = ":%S" if moment.second or moment.microsecond else ""
        return moment.astimezone().strftime(f"%Y-%m-%d %H:%M{precise} %Z")

    since = texts("since", when=spelled(a.since)) if a.since else texts("all_time")
    until = texts("until", when=spelled(a.until)) if a.until else ""
    return Settings(
        language=lang,
        texts=texts,
        tenants=tenants,
        period=texts("period", since=since, until=until).strip(),
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
        print(texts("title"), "—", report.period)
        rate, time = percent(report.approval_rate, lang), duration(report.review_seconds, lang)
        print(texts("thresholds", rate=rate, time=time))
        if not response.rows:
            print(texts("empty"))
        several = len({r.tenant for r in response.rows}) > 1
        for dimension in ("tenant", "decision_type", "model", "reviewer"):
            header, cells = table_rows(response.rows, dimension, report, several)
            if cells:
                print(f"\n{texts(f'table.{dimension}')}")
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
