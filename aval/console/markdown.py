"""Reads the gateway's Markdown (headings, paragraphs, list items, code spans) into plain
blocks that templates print escaped: text from a record never becomes markup here."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A backslash escape, or a code span between equal runs of backquotes.
_INLINE = re.compile(r"\\(.)|(`+) ?(.*?) ?\2(?!`)")


@dataclass(frozen=True)
class Part:
    """A run of text, or a code span (an identifier, a hash) when `code`."""

    text: str
    code: bool = False


@dataclass(frozen=True)
class Block:
    """One heading (`h1`, `h2`), paragraph (`p`) or list item (`li`, nested by `level`)."""

    kind: str
    parts: tuple[Part, ...]
    level: int = 0


def _inline(text: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    plain: list[str] = []
    at = 0
    for match in _INLINE.finditer(text):
        plain.append(text[at : match.start()])
        if match[1] is not None:
            plain.append(match[1])
        else:
            if "".join(plain):
                parts.append(Part("".join(plain)))
            plain = []
            parts.append(Part(match[3], code=True))
        at = match.end()
    plain.append(text[at:])
    if "".join(plain):
        parts.append(Part("".join(plain)))
    return tuple(parts)


def blocks(markdown: str) -> list[Block]:
    """The blocks of `markdown` as the gateway writes it (aval.service.audit.report_html)."""
    found: list[Block] = []
    for line in markdown.splitlines():
        if not line.strip():
            continue
        stripped = line.lstrip(" ")
        if stripped.startswith("- "):
            level = (len(line) - len(stripped)) // 2
            found.append(Block("li", _inline(stripped[2:]), level))
        elif line.startswith("## "):
            found.append(Block("h2", _inline(line[3:])))
        elif line.startswith("# "):
            found.append(Block("h1", _inline(line[2:])))
        else:
            found.append(Block("p", _inline(line)))
    return found
