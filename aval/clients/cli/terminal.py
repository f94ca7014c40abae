"""What the command line writes can never command the terminal that shows it.

Decisions, reviews, explanations, registry entries and refusals carry text that other people
wrote: a subject reference, a justification, an AI's explanation, an administrator's reason,
a tenant name echoed in an error. A terminal obeys some characters instead of showing them:
escape sequences clear the screen or rewrite earlier lines, a bell rings, bidi overrides make
"exe.txt" read as "txt.exe". `neutralise` shows each such character instead, and `guarded`
puts it between every command and its standard output and error, so no command can forget it:

- C0 control characters but the newline, as ``\\x1b``;
- DEL, the C1 control characters (U+0080 to U+009F), the bidi marks, embeddings, overrides
  and isolates, the line and paragraph separators, and every other format character (Cf) but
  the zero-width joiners that scripts and emoji need, as ``<U+202E>``;
- in JSON output, the same characters as JSON escapes (``\\u202e``), so that the document
  stays valid and means exactly what the server sent.
"""

from __future__ import annotations

import codecs
import contextlib
import sys
import unicodedata
from collections.abc import Iterator
from typing import IO, Any, TextIO, cast

_JOINERS = frozenset("\u200c\u200d")
_OBEYED = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def _obeyed(char: str) -> bool:
    if char == "\n":
        return False
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    return code > 0x9F and unicodedata.category(char) in _OBEYED and char not in _JOINERS


def _shown(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x20 else f"<U+{code:04X}>"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def neutralise(text: str, *, json: bool = False) -> str:
    """`text` with every character a terminal would obey rather than show made visible.

    Args:
        text: What to print.
        json: `text` is (part of) a JSON document: escape the characters as JSON does.

    Returns:
        The text, unchanged when it holds no such character.
    """
    if text.replace("\n", "").isprintable():  # the common case: nothing to look at
        return text
    escape = _json_escape if json else _shown
    return "".join(escape(char) if _obeyed(char) else char for char in text)


class _Guard:
    """A text stream that neutralises everything written to it before its own stream gets it."""

    def __init__(self, stream: TextIO) -> None:
        self.unguarded = stream
        self.json = False

    def write(self, text: str) -> int:
        self.unguarded.write(neutralise(text, json=self.json))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, buffer, encoding…
        return getattr(self.unguarded, name)


class Streams:
    """Standard output and error of a command, guarded; see `guarded`."""

    def __init__(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        self._out, self._err = _Guard(sys.stdout), _Guard(sys.stderr)
        sys.stdout, sys.stderr = cast(TextIO, self._out), cast(TextIO, self._err)

    def json_output(self) -> None:
        """Standard output carries JSON from now on: escape as JSON does."""
        self._out.json = True

    def release(self) -> None:
        """Gives the command the streams it was started with (`aval serve` writes its log)."""
        sys.stdout, sys.stderr = self._saved


@contextlib.contextmanager
def guarded() -> Iterator[Streams]:
    """Guards `sys.stdout` and `sys.stderr` for the duration, then puts them back."""
    streams = Streams()
    try:
        yield streams
    finally:
        streams.release()


def overwrite_line(text: str) -> None:
    """Rewrites the terminal's last line of standard error with `text` (progress lines)."""
    stream = getattr(sys.stderr, "unguarded", sys.stderr)
    stream.write("\r" + neutralise(text))
    stream.flush()


class TerminalBytes:
    """Bytes for a terminal (an export printed rather than redirected), shown neutralised."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> int:
        self._stream.write(neutralise(self._decoder.decode(data)))
        return len(data)

    def flush(self) -> None:
        self._stream.write(neutralise(self._decoder.decode(b"", final=True)))
        self._stream.flush()


def bytes_out() -> IO[bytes]:
    """Where a command prints bytes: standard output as is, or neutralised for a terminal."""
    if sys.stdout.isatty():
        return cast(IO[bytes], TerminalBytes(getattr(sys.stdout, "unguarded", sys.stdout)))
    return sys.stdout.buffer
