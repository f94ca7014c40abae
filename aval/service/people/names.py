"""Display names made safe to store and show: printable, bounded, never a raw invisible or
bidirectional control character (a name of `\u202e` could reverse what a supervisor reads
after it)."""

from __future__ import annotations

import unicodedata

from aval.service.text import has_visible_text

# Characters of a display name kept, escapes included.
MAX_DISPLAY_NAME = 200
# Combining marks in a row kept after a letter: enough for any script, not for a tower of
# stacked marks drawn over the lines around it.
_MAX_COMBINING_RUN = 4


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe_display_name(value: object) -> str:
    """A display name to store and show, from `value` when it is text with something visible in
    it: its non-printable characters (controls, format characters such as bidi overrides and
    zero-width joiners, separators other than the space, unassigned code points) written as
    `\\uXXXX` escapes, whitespace around it stripped, long runs of combining marks cut, and at
    most MAX_DISPLAY_NAME characters (never cutting an escape in two). "" for anything else
    (not text, or nothing visible in it)."""
    if not isinstance(value, str) or not has_visible_text(value):
        return ""
    parts: list[str] = []
    size, run = 0, 0
    for char in value.strip():
        if unicodedata.category(char).startswith("M"):
            run += 1
            if run > _MAX_COMBINING_RUN:
                continue
        else:
            run = 0
        part = char if char.isprintable() else _escape(char)
        if size + len(part) > MAX_DISPLAY_NAME:
            break
        parts.append(part)
        size += len(part)
    return "".join(parts).strip()
