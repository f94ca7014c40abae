"""The statistics report: figures in words, and a self-contained HTML page with SVG charts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from aval.clients.cli.messages import Language
from aval.texts import Texts, duration, percent
from aval.v1 import audit_pb2

Row = audit_pb2.StatsRow
RED, BLUE, PALE, GREY = "#c9191e", "#000091", "#9a9aff", "#666"


def key_of(row: Row, texts: Texts, several_tenants: bool) -> str:
    """Names a row's group for people.

    Args:
        row: The row.
        texts: The report's texts (``no_model`` names decisions without AI).
        several_tenants: Prefix the tenant, for reports on several tenants.

    Returns:
        E.g. ``"aides.attribution"``, ``"sans IA"`` or ``"ville-a · sup-a1"``.
    """
    key = texts("no_model") if row.dimension == "model" and row.key == "none" else row.key
    if several_tenants and row.dimension != "tenant":
        return f"{row.tenant} · {key}"
    return key


def approval_rate(row: Row) -> float:
    """Computes a reviewer's approval rate.

    Args:
        row: A row of dimension ``"reviewer"``.

    Returns:
        The share of the reviewer's verdicts that approved unchanged (0 without verdicts).
    """
    return row.approved / row.verdicts if row.verdicts else 0.0


@dataclass(frozen=True)
class Settings:
    """What the report was asked for, shown in its header, and the texts of its language."""

    language: Language
    texts: Texts
    tenants: Sequence[str]
    period: str
    generated: str
    approval_rate: float
    review_seconds: float


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, the value written next to it."""

    label: str
    value: float
    text: str
    back: float = 0.0  # a lighter bar behind, e.g. the 90th percentile behind the median
    flagged: bool = False


def _svg(width: int, height: int) -> str:
    return f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'


@dataclass(frozen=True)
class BarShape:
    """Where one bar of a horizontal bar chart is drawn (SVG user units)."""

    label: str
    short_label: str
    text: str
    y: float
    width: float
    back_width: float
    text_x: float
    flagged: bool


@dataclass(frozen=True)
class BarLayout:
    """A horizontal bar chart laid out: labels end at `label_x`, bars start at `bar_x`."""

    width: int
    height: int
    label_x: int
    bar_x: int
    bars: tuple[BarShape, ...]


def bar_layout(bars: Sequence[Bar], top: float, width: int = 900) -> BarLayout:
    """Lays out a horizontal bar chart; labels on the left, values on the right.

    Args:
        bars: The bars, top to bottom.
        top: The value of a full-width bar (1.0 when 0).
        width: The chart's width.

    Returns:
        Each bar's place and size.
    """
    label_w, text_w, row_h = 270, 170, 28
    area = width - label_w - text_w
    top = top or 1.0
    shapes = []
    for n, bar in enumerate(bars):
        y = n * row_h + 4
        short = bar.label if len(bar.label) <= 34 else bar.label[:33] + "…"
        back = max(1.0, area * bar.back / top) if bar.back else 0.0
        w = max(1.0, area * bar.value / top) if bar.value else 0.0
        end = label_w + area * max(bar.value, bar.back) / top + 6
        shapes.append(BarShape(bar.label, short, bar.text, y, w, back, end, bar.flagged))
    return BarLayout(width, row_h * len(bars) + 8, label_w - 8, label_w, tuple(shapes))


def _svg_bars(layout: BarLayout) -> str:
    """A horizontal bar chart as SVG (see `bar_layout`)."""
    parts = [_svg(layout.width, layout.height)]
    for bar in layout.bars:
        color = RED if bar.flagged else BLUE
        parts.append(
            f'<text x="{layout.label_x}" y="{bar.y + 17}" text-anchor="end">'
            f"<title>{escape(bar.label)}</title>{escape(bar.short_label)}</text>"
        )
        if bar.back_width:
            parts.append(
                f'<rect x="{layout.bar_x}" y="{bar.y + 3}" width="{bar.back_width:.1f}" '
                f'height="18" fill="{PALE}"/>'
            )
        parts.append(
            f'<rect x="{layout.bar_x}" y="{bar.y + 3}" width="{bar.width:.1f}" height="18" '
            f'fill="{color}"/>'
        )
        parts.append(f'<text x="{bar.text_x:.1f}" y="{bar.y + 17}">{escape(bar.text)}</text>')
    return "".join(parts) + "</svg>"


def _log_x(seconds: float, left: float, width: float, top: float) -> float:
    return left + width * math.log10(max(seconds, 1.0)) / math.log10(top)


def _scatter(reviewers: Sequence[Row], s: Settings, several: bool) -> str:
    """Reviewers by median review time (log scale) and approval rate; the rubber-stamping zone
    (fast and approving) shaded red."""
    t = s.texts
    w, h, left, bottom, top_pad = 900, 340, 70, 50, 20
    pw, ph = w - left - 30, h - bottom - top_pad
    longest = max([r.review_seconds_p50 for r in reviewers] + [s.review_seconds * 4, 3600])
    top = 10 ** math.ceil(math.log10(longest))

    def y_of(rate: float) -> float:
        return top_pad + ph * (1 - rate)

    zone_x = _log_x(s.review_seconds, left, pw, top)
    parts = [
        _svg(w, h),
        f'<rect x="{left}" y="{y_of(1):.1f}" width="{zone_x - left:.1f}" '
        f'height="{y_of(s.approval_rate) - y_of(1):.1f}" fill="#fde0e0" stroke="{RED}" '
        'stroke-dasharray="4 3"/>',
        f'<line x1="{left}" y1="{top_pad + ph}" x2="{left + pw}" y2="{top_pad + ph}" '
        f'stroke="{GREY}"/><line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + ph}" '
        f'stroke="{GREY}"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        parts.append(
            f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{percent(tick, s.language)}</text>"
        )
    for seconds in (1, 10, 60, 600, 3600, 86400, 864000):
        if seconds <= top:
            x = _log_x(seconds, left, pw, top)
            parts.append(
                f'<text x="{x:.1f}" y="{top_pad + ph + 18}" text-anchor="middle" font-size="12">'
                f"{duration(seconds, s.language)}</text>"
            )
    parts.append(
        f'<text x="{left + pw / 2}" y="{h - 6}" text-anchor="middle">{escape(t("axis_x"))}</text>'
        f'<text transform="translate(16 {top_pad + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(t('axis_y'))}</text>"
    )
    placed: list[tuple[float, float, float]] = []  # labels drawn: x, baseline, width
    points = [
        (_log_x(r.review_seconds_p50, left, pw, top), y_of(approval_rate(r)), r) for r in reviewers
    ]
    for x, y, r in sorted(points, key=lambda p: (p[1], p[0])):
        color = RED if r.rubber_stamping else BLUE
        name = key_of(r, t, several)
        width, baseline = 7.0 * len(name), y + 4
        # Move a label down until it overlaps no label already drawn.
        while any(
            abs(baseline - b) < 14 and x < px + pw_ and px < x + width for px, b, pw_ in placed
        ):
            baseline += 14
        placed.append((x, baseline, width))
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{color}" fill-opacity=".85">'
            f"<title>{escape(name)}</title></circle>"
            f'<text x="{x + 9:.1f}" y="{baseline:.1f}" font-size="12" fill="{color}">'
            f"{escape(name)}</text>"
        )
    return "".join(parts) + "</svg>"


def _table(header: Sequence[str], rows: Sequence[tuple[Sequence[str], bool]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=flag' if flagged else ''}>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
        for cells, flagged in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cells(row: Row, s: Settings, several: bool) -> list[str]:
    lang = s.language
    name = key_of(row, s.texts, several)
    if row.dimension == "reviewer":
        return [
            name, str(row.verdicts), str(row.approved), str(row.amended), str(row.rejected),
            percent(approval_rate(row), lang), duration(row.review_seconds_p50, lang),
            percent(row.agreement_rate, lang), s.texts("flag") if row.rubber_stamping else "",
        ]  # fmt: skip
    return [
        name, str(row.decisions), str(row.approved), str(row.amended), str(row.rejected),
        str(row.expired), str(row.pending), percent(row.override_rate, lang),
        percent(row.agreement_rate, lang), duration(row.time_to_decision_p50_seconds, lang),
        duration(row.time_to_decision_p90_seconds, lang),
    ]  # fmt: skip


def table_rows(
    rows: Sequence[Row], dimension: str, s: Settings, several: bool
) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """Lays out one dimension's rows as a table.

    Args:
        rows: All the rows of the statistics.
        dimension: ``"tenant"``, ``"decision_type"``, ``"model"`` or ``"reviewer"``.
        s: The report's settings and texts.
        several: Whether the rows cover several tenants (group names then name the tenant).

    Returns:
        The header, then each row's cells with whether it is flagged as rubber-stamping.
    """
    columns = "cols.reviewer" if dimension == "reviewer" else "cols.group"
    header = [s.texts(f"col.{dimension}"), *s.texts(columns).split("|")]
    picked = [r for r in rows if r.dimension == dimension]
    return header, [(_cells(r, s, several), r.rubber_stamping) for r in picked]


_CSS = """body{font-family:system-ui,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;
padding:0 1rem;color:#1b1b1b}h1{border-bottom:3px solid #000091;padding-bottom:.3rem}
h2{color:#000091;margin-top:2rem}svg{font-family:inherit;font-size:13px;display:block;
max-width:100%;height:auto}table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0;
width:100%}th,td{padding:.25rem .4rem;border-bottom:1px solid #ddd;text-align:right}
td{white-space:nowrap}th{background:#f0f0f7;font-size:.72rem;vertical-align:bottom}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere;
min-width:8rem}tr.flag td{background:#fde0e0;color:#8a0f13;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{flex:1;border:1px solid #ddd;
border-radius:6px;padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.5rem;
color:#000091}.card.alert b{color:#c9191e}.meta{color:#555}.legend span{display:inline-block;
width:12px;height:12px;margin:0 .3rem 0 1rem;vertical-align:middle}"""


def chart_bars(rows: Sequence[Row], s: Settings, several: bool) -> dict[str, BarLayout]:
    """The bar charts of the statistics, laid out: ``override`` (override rate per decision
    type), ``ttd`` (time to decision per type, median over the 90th percentile) and
    ``agreement`` (agreement rate per model).

    Args:
        rows: The rows of ``GetStats``.
        s: What was asked for, and the texts of the report's language.
        several: Whether the rows cover several tenants.

    Returns:
        Each chart's layout, by name.
    """
    t = s.texts

    def name(r: Row) -> str:
        return key_of(r, t, several)

    def rates(dimension: str, field: str) -> BarLayout:
        picked = [r for r in rows if r.dimension == dimension]
        bars = [
            Bar(name(r), getattr(r, field), percent(getattr(r, field), s.language)) for r in picked
        ]
        return bar_layout(bars, 1.0)

    types = [r for r in rows if r.dimension == "decision_type"]
    times = [
        Bar(
            name(r),
            r.time_to_decision_p50_seconds,
            f"{duration(r.time_to_decision_p50_seconds, s.language)} / "
            f"{duration(r.time_to_decision_p90_seconds, s.language)}",
            back=r.time_to_decision_p90_seconds,
        )
        for r in types
    ]
    longest = max([r.time_to_decision_p90_seconds for r in types], default=1.0)
    return {
        "override": rates("decision_type", "override_rate"),
        "ttd": bar_layout(times, longest),
        "agreement": rates("model", "agreement_rate"),
    }


def _charts(rows: Sequence[Row], s: Settings, several: bool) -> list[str]:
    t = s.texts
    reviewers = [r for r in rows if r.dimension == "reviewer"]
    charts = {name: _svg_bars(layout) for name, layout in chart_bars(rows, s, several).items()}
    return [
        f"<h2>{escape(t('chart.override'))}</h2><p>{escape(t('chart.override_help'))}</p>",
        charts["override"],
        f"<h2>{escape(t('chart.ttd'))}</h2>",
        f'<p class="legend"><span style="background:{BLUE}"></span>{escape(t("median"))}'
        f'<span style="background:{PALE}"></span>{escape(t("p90"))}</p>',
        charts["ttd"],
        f"<h2>{escape(t('chart.agreement'))}</h2><p>{escape(t('chart.agreement_help'))}</p>",
        charts["agreement"],
        f"<h2>{escape(t('chart.reviewers'))}</h2><p>{escape(t('chart.reviewers_help'))}</p>",
        f'<p class="legend"><span style="background:#fde0e0;outline:1px dashed {RED}"></span>'
        f'{escape(t("zone"))}<span style="background:{RED};border-radius:6px"></span>'
        f'{escape(t("flagged"))}<span style="background:{BLUE};border-radius:6px"></span>'
        f"{escape(t('others'))}</p>",
        _scatter(reviewers, s, several) if reviewers else f"<p>{escape(t('no_reviewers'))}</p>",
    ]


def render_html(rows: Sequence[Row], s: Settings) -> str:
    """Writes the statistics as one self-contained HTML page: no script, no external resource.

    Summary cards; bar charts of the override rate and of the time to decision (median and
    90th percentile) per decision type and of the agreement rate per model; a scatter plot of
    reviewers by median review time and approval rate, the rubber-stamping zone shaded; then a
    table per dimension, flagged reviewers highlighted.

    Args:
        rows: The rows of ``GetStats``.
        s: What was asked for, and the texts of the report's language.

    Returns:
        The page.
    """
    t = s.texts
    several = len({r.tenant for r in rows}) > 1
    tenants = [r for r in rows if r.dimension == "tenant"]
    reviewers = [r for r in rows if r.dimension == "reviewer"]
    flagged = [r for r in reviewers if r.rubber_stamping]
    rules = t(
        "thresholds",
        rate=percent(s.approval_rate, s.language),
        time=duration(s.review_seconds, s.language),
    )
    meta = [t("meta", tenants=", ".join(s.tenants) or "—"), s.period, rules]
    out = [
        f'<!DOCTYPE html><html lang="{s.language}"><head><meta charset="utf-8">'
        f"<title>{escape(t('title'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(t('title'))}</h1>",
        f'<p class="meta">{"<br>".join(escape(line) for line in meta)}</p>',
    ]
    if not rows:
        return "\n".join([*out, f"<p>{escape(t('empty'))}</p></body></html>\n"])
    cards = [
        (t("card.decisions"), sum(r.decisions for r in tenants), False),
        (t("card.pending"), sum(r.pending for r in tenants), False),
        (t("card.reviewers"), len(reviewers), False),
        (t("card.flagged"), len(flagged), bool(flagged)),
    ]
    out.append('<div class="cards">')
    for label, value, alert in cards:
        css = "card alert" if alert else "card"
        out.append(f'<div class="{css}"><b>{value}</b>{escape(label)}</div>')
    out.append("</div>")
    out += _charts(rows, s, several)
    for dimension in ("reviewer", "tenant", "decision_type", "model"):
        header, cells = table_rows(rows, dimension, s, several)
        out += [f"<h2>{escape(t(f'table.{dimension}'))}</h2>", _table(header, cells)]
    out.append(f'<p class="meta">{escape(t("footer", when=s.generated))}</p>')
    return "\n".join([*out, "</body></html>\n"])
