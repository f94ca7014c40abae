"""Documents for people: headings, paragraphs and lists, written as Markdown or escaped HTML."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["h1", "h2", "p", "li"]
TextFormat = Literal["markdown", "html"]


@dataclass(frozen=True)
class Code:
    """An identifier, hash or JSON value, shown verbatim (monospace)."""

    text: str


Inline = str | Code

# Characters that Markdown would read as markup, or as raw HTML, in text from the record.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:52rem;
margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.6rem;border-bottom:3px solid #000091;padding-bottom:.3rem}
h2{font-size:1.15rem;margin-top:1.6rem;color:#000091}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;background:#f2f2f7;
padding:0 .2em;border-radius:3px;overflow-wrap:anywhere}
li{margin:.2rem 0}
"""


def text_format(name: str) -> TextFormat:
    """The format of a wire TextFormat name: HTML, else Markdown."""
    return "html" if name == "TEXT_FORMAT_HTML" else "markdown"


PARIS = ZoneInfo("Europe/Paris")


def when(moment: datetime, language: str, *, seconds: bool = False, paris: bool = False) -> str:
    """A time people read: in UTC for inspectors comparing it with the trail (12/03/2026 14:05
    UTC in French, 2026-03-12 14:05 UTC), in Paris time for citizens (12/03/2026 15:05, heure
    de Paris; 2026-03-12 15:05, Paris time)."""
    spelled = "%Y-%m-%d %H:%M" if language == "en" else "%d/%m/%Y %H:%M"
    spelled += ":%S" if seconds else ""
    if paris:
        zone = " (Paris time)" if language == "en" else " (heure de Paris)"
        return moment.astimezone(PARIS).strftime(spelled) + zone
    return moment.astimezone(UTC).strftime(spelled + " UTC")


@dataclass(frozen=True)
class Block:
    """One heading, paragraph or list item; `level` nests list items."""

    kind: Kind
    parts: tuple[Inline, ...]
    level: int = 0


@dataclass
class Document:
    """A document built block by block, then written in the requested format."""

    title: str
    language: str = "fr"
    blocks: list[Block] = field(default_factory=list)

    def h1(self, *parts: Inline) -> None:
        self.blocks.append(Block("h1", parts))

    def h2(self, *parts: Inline) -> None:
        self.blocks.append(Block("h2", parts))

    def p(self, *parts: Inline) -> None:
        self.blocks.append(Block("p", parts))

    def li(self, *parts: Inline, level: int = 0) -> None:
        self.blocks.append(Block("li", parts, level))

    def render(self, fmt: TextFormat) -> str:
        """The document as Markdown or as a self-contained HTML page."""
        return to_html(self) if fmt == "html" else to_markdown(self)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _markdown_inline(part: Inline) -> str:
    if isinstance(part, Code):
        text = _one_line(part.text)
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        return f"{fence}{pad}{text}{pad}{fence}"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(part))


def to_markdown(doc: Document) -> str:
    """Markdown in which text from the record can never become markup or raw HTML."""
    lines: list[str] = []
    previous: Kind | None = None
    for block in doc.blocks:
        text = "".join(_markdown_inline(p) for p in block.parts)
        if block.kind == "li":
            if previous not in (None, "li"):
                lines.append("")
            lines.append("  " * block.level + f"- {text}")
        else:
            if lines:
                lines.append("")
            prefix = {"h1": "# ", "h2": "## ", "p": ""}[block.kind]
            lines.append(prefix + text)
        previous = block.kind
    return "\n".join(lines) + "\n"


def _html_inline(part: Inline) -> str:
    if isinstance(part, Code):
        return f"<code>{html.escape(part.text)}</code>"
    return html.escape(part)


def to_html(doc: Document) -> str:
    """A complete HTML page, without scripts or external resources; all text escaped."""
    body: list[str] = []
    depth = 0  # open <ul> elements
    for block in doc.blocks:
        text = "".join(_html_inline(p) for p in block.parts)
        target = block.level + 1 if block.kind == "li" else 0
        while depth > target:
            body.append("</li></ul>")
            depth -= 1
        if block.kind != "li":
            body.append(f"<{block.kind}>{text}</{block.kind}>")
            continue
        if depth == target:
            body.append("</li>")
        while depth < target:
            body.append("<ul>")
            depth += 1
        body.append(f"<li>{text}")
    body.extend(["</li></ul>"] * depth)
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(doc.language)}">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
