"""Text that says nothing and text that commands a terminal: the rules of service/text.py and
clients/terminal.py, character class by character class."""

from __future__ import annotations

import io
import json
import sys
import unicodedata

import pytest

from aval.clients.cli import terminal
from aval.service.text import has_visible_text, is_visible

INVISIBLE = {
    "spaces": " \t\u00a0\u2002\u2003\u2009\u200a\u202f\u205f\u3000",
    "line and paragraph separators": "\n\r\u2028\u2029\x85",
    "zero-width and joiners": "\u200b\u200c\u200d\u2060\ufeff\u180e",
    "bidi controls": "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    "controls": "\x00\x07\x1b\x7f\x9b",
    "combining marks alone": "\u0301\u0308\u20dd\ufe0f",
    "fillers": "\u115f\u1160\u3164\uffa0\u2800",
    "format": "\u00ad\u2061\u2062\u2063\u2064\U000e0001\U000e0041\U0001d173",
    "private use and unassigned": "\ue000\U000f0000\u0378",
}


@pytest.mark.parametrize("kind", INVISIBLE)
def test_invisible_characters_alone_say_nothing(kind: str) -> None:
    text = INVISIBLE[kind]
    assert not has_visible_text(text), kind
    for char in text:
        assert not is_visible(char), f"U+{ord(char):04X}"


@pytest.mark.parametrize(
    "text",
    ["a", "É", "e\u0301", "7", "٣", "!", "«", "€", "→", "😀", "👩\u200d💻", "\u200bok\u200b", "漢"],
)
def test_one_visible_character_is_enough(text: str) -> None:
    assert has_visible_text(text)


def test_every_letter_number_punctuation_and_symbol_is_visible_but_the_fillers() -> None:
    blank = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800}
    for code in range(0x30000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        expected = unicodedata.category(char)[0] in "LNPS" and code not in blank
        assert is_visible(char) == expected, f"U+{code:04X}"


OBEYED = (
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    + list("\u2028\u2029\u200b\u2060\ufeff\u00ad\U000e0041")
)


@pytest.mark.parametrize("char", OBEYED, ids=lambda c: f"U+{ord(c):04X}")
def test_characters_a_terminal_obeys_are_shown(char: str) -> None:
    shown = terminal.neutralise(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a") and shown.endswith("b")
    code = ord(char)
    assert shown[1:-1] == (f"\\x{code:02x}" if code < 0x20 else f"<U+{code:04X}>")


@pytest.mark.parametrize("char", OBEYED, ids=lambda c: f"U+{ord(c):04X}")
def test_in_json_they_are_escaped_and_mean_the_same(char: str) -> None:
    document = json.dumps({"k": f"a{char}b"}, ensure_ascii=False)
    shown = terminal.neutralise(document, json=True)
    assert char not in shown
    assert json.loads(shown) == {"k": f"a{char}b"}


@pytest.mark.parametrize("text", ["ligne 1\nligne 2", "Élodie — 250 €", "👩\u200d💻", "ZWNJ\u200c"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert terminal.neutralise(text) == text


def test_the_guard_covers_stdout_and_stderr_and_puts_them_back() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with terminal.guarded() as streams:
            print("\x1b[2Jsujet\u202e")
            print("erreur \x07", file=sys.stderr)
            streams.json_output()
            print(json.dumps({"s": "\u202e"}, ensure_ascii=False))
        assert (sys.stdout, sys.stderr) == (out, err)
    finally:
        sys.stdout, sys.stderr = saved
    assert out.getvalue() == '\\x1b[2Jsujet<U+202E>\n{"s": "\\u202e"}\n'
    assert err.getvalue() == "erreur \\x07\n"


def test_bytes_for_a_terminal_are_neutralised_even_split_mid_character() -> None:
    shown = io.StringIO()
    out = terminal.TerminalBytes(shown)
    data = "a\u202eb\x1bc".encode()
    for i in range(len(data)):
        out.write(data[i : i + 1])
    out.flush()
    assert shown.getvalue() == "a<U+202E>b\\x1bc"
