"""What counts as visible text: the rule every required reason and justification must meet.

A person who must say why writes at least one character that a reader can see. A character
is visible when its Unicode general category is a letter (L*), a number (N*), a punctuation
mark (P*) or a symbol (S*), and it is not one of the few of those that are drawn as nothing
(the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, the braille blank U+2800).

Everything else is invisible on its own: spaces of every width (Zs) and separators of lines
and paragraphs (Zl, Zp); control characters (Cc); format characters (Cf: zero-width space and
joiners, U+2060 word joiner, U+FEFF, soft hyphen, bidi marks, overrides and isolates, tag
characters); combining marks (M*), which only change the letter before them; private-use and
unassigned code points (Co, Cn), which no font is known to draw. Such characters are kept as
written when there is a visible one beside them (an accent on a letter, a joiner in an emoji).
"""

from __future__ import annotations

import unicodedata

from pydantic_core import PydanticCustomError

_VISIBLE_CATEGORIES = frozenset("LNPS")
_DRAWN_AS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_visible(char: str) -> bool:
    """Whether one character is drawn as something a reader can see (see the module's rule)."""
    return unicodedata.category(char)[0] in _VISIBLE_CATEGORIES and char not in _DRAWN_AS_NOTHING


def has_visible_text(text: str) -> bool:
    """Whether `text` holds at least one visible character (see the module's rule)."""
    return any(is_visible(char) for char in text)


def visible(text: str) -> str:
    """A Pydantic validator: `text` unchanged when it holds a visible character.

    Raises:
        PydanticCustomError: `no_visible_text`, which requests report as VISIBLE_TEXT_REQUIRED.
    """
    if not has_visible_text(text):
        raise PydanticCustomError("no_visible_text", "must contain a visible character")
    return text
