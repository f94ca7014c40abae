"""How texts write the values they hold: parameters cut short, numbers, durations."""

from __future__ import annotations

# Characters of a parameter that a refusal shows, at most: parameters repeat what the caller
# sent, and a refusal must stay small enough for any client to read (its trailers).
ECHO_LIMIT = 100
# Parameters the server supplies rather than the caller, shown longer: what the caller may
# choose among (a tenant's decision types, its AI systems), and where an operator's file is
# wrong and how to mend it (CONFIGURATION_INVALID).
LONGER_ECHO = {"known": 500, "file": 500, "problem": 500, "fix": 500}


def escape_char(char: str) -> str:
    """A character as a visible escape: \\x.., \\u.... or \\U........"""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A parameter as refusals show it: at most `limit` characters, then an ellipsis, with
    invisible characters (controls, bidi and zero-width marks…) written as escapes, so that
    no refusal can reorder or hide text on the reader's screen."""
    out: list[str] = []
    size = 0
    for char in value if isinstance(value, str) else str(value):
        piece = char if char.isprintable() else escape_char(char)
        if size + len(piece) > limit:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def number(value: float, language: str, *, signed: bool = False, places: int = 2) -> str:
    """A number with `places` decimals and the language's decimal separator ("0,87" in French)."""
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    return text.replace(".", ",") if language == "fr" else text


def percent(value: float, language: str) -> str:
    """A rate in [0, 1] as a percentage: 82 % in French, 82% in English."""
    return f"{round(value * 100)}{'%' if language == 'en' else ' %'}"


def duration(seconds: float, language: str) -> str:
    """A duration people read: 0,4 s, 42 s, 3 min 05 s, 2 h 07 min, 3 j 4 h (3 d 4 h in English)."""
    if seconds < 9.95:  # under ten seconds, to the tenth
        tenths = f"{max(0.0, seconds):.1f}".removesuffix(".0")
        return f"{tenths if language == 'en' else tenths.replace('.', ',')} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60:02d} s" if s % 60 else "")
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60:02d} min" if s % 3600 // 60 else "")
    day = "d" if language == "en" else "j"
    return f"{s // 86400} {day}" + (f" {s % 86400 // 3600} h" if s % 86400 // 3600 else "")
