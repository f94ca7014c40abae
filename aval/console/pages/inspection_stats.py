"""The statistics page for inspectors: GetStats over a period of Paris days, each dimension
as a table, and SVG bar charts drawn on the server (each next to its table)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response

from aval.clients.cli.stats import DEFAULT_APPROVAL_RATE, DEFAULT_REVIEW_SECONDS, STATS
from aval.clients.cli.stats_report import (
    Bar,
    BarLayout,
    Settings,
    approval_rate,
    bar_layout,
    chart_bars,
    key_of,
    table_rows,
)
from aval.console.app import Console
from aval.console.pages.inspection_filters import (
    EventFilters,
    Page,
    as_inspector,
    paris_time,
)
from aval.texts import Texts, duration, percent
from aval.v1 import audit_pb2

ROLE = "inspector"
DIMENSIONS = ("tenant", "decision_type", "model", "reviewer")


class Chart(NamedTuple):
    """A bar chart with its title; the table of the same figures follows it on the page."""

    title: str
    key: str
    layout: BarLayout


def stats_page(console: Console) -> Page:
    """The statistics page's endpoint."""

    async def stats(request: Request) -> Response:
        session = console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        asked = EventFilters.read(request.query_params)
        errors = {k: v for k, v in asked.errors.items() if k in ("since", "until", "tenants")}
        texts = Texts(STATS, STATS.language(session.language))
        context: dict[str, Any] = {"asked": asked, "errors": errors, "st": texts}
        if errors:
            return console.render(request, "inspection/stats.html", session, status=400, **context)
        query = asked.query()
        client = await as_inspector(console, session, asked.purpose)
        response = await client.get_stats(
            tenants=query["tenants"], since=query["since"], until=query["until"]
        )
        rows = list(response.rows)
        settings = _settings(texts, query, rows, session.tenant)
        several = len({r.tenant for r in rows}) > 1
        context["tables"] = [
            (d, texts(f"table.{d}"), *table_rows(rows, d, settings, several)) for d in DIMENSIONS
        ]
        words = console.text(session.language)
        context["charts"] = _charts(rows, settings, several, words("inspection.stats.reviewers"))
        context["flagged"] = [
            key_of(r, texts, several)
            for r in rows
            if r.dimension == "reviewer" and r.rubber_stamping
        ]
        context["settings"] = settings
        context["thresholds"] = texts(
            "thresholds",
            rate=percent(settings.approval_rate, settings.language),
            time=duration(settings.review_seconds, settings.language),
        )
        context["empty"] = not rows
        return console.render(request, "inspection/stats.html", session, **context)

    return stats


def _settings(
    texts: Texts, query: dict[str, object], rows: Sequence[audit_pb2.StatsRow], home: str
) -> Settings:
    since, until = query["since"], query["until"]
    start = (
        texts("since", when=paris_time(since)) if isinstance(since, datetime) else texts("all_time")
    )
    end = texts("until", when=paris_time(until)) if isinstance(until, datetime) else ""
    return Settings(
        language=texts.language,
        texts=texts,
        tenants=sorted({r.tenant for r in rows}) or [home],
        period=texts("period", since=start, until=end).strip(),
        generated=paris_time(datetime.now().astimezone()),
        approval_rate=DEFAULT_APPROVAL_RATE,
        review_seconds=DEFAULT_REVIEW_SECONDS,
    )


def _charts(
    rows: Sequence[audit_pb2.StatsRow], s: Settings, several: bool, reviewers_title: str
) -> list[Chart]:
    """The report's bar charts, and the reviewers' approval rates (flagged ones marked in
    words as well as in colour) in place of its scatter plot."""
    t = s.texts
    reviewers = [
        Bar(
            key_of(r, t, several),
            approval_rate(r),
            percent(approval_rate(r), s.language)
            + (f" — {t('flag')}" if r.rubber_stamping else ""),
            flagged=r.rubber_stamping,
        )
        for r in rows
        if r.dimension == "reviewer"
    ]
    layouts = {**chart_bars(rows, s, several), "reviewers": bar_layout(reviewers, 1.0)}
    titles = {key: t(f"chart.{key}") for key in layouts} | {"reviewers": reviewers_title}
    return [Chart(titles[key], key, layout) for key, layout in layouts.items() if layout.bars]
