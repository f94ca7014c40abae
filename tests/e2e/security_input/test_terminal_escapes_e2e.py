"""The command line's text output neutralises control and bidi characters."""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from aval.clients import Client
from tests.support import ServerProcess

from ..helpers import propose_kwargs, run_cli

pytestmark = pytest.mark.e2e


# --- Item 12: the CLI never prints control or bidi characters it received ---------------------

ESCAPES = "\x1b[2J\x1b[31m\x07\u202eevil\u2066\u2069\x9b31m\x85\x7f\x1b]0;titre\x07\r\x08"
# subject_ref is one word: no whitespace (\r, \x85) in it.
SUBJECT = "usager:\x1b[2J\x07\u202e\x9b\x7f\u2066"


def dangerous(text: str) -> list[str]:
    """The characters of `text` a terminal would obey rather than show."""
    bidi = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))}
    bidi |= {*map(chr, range(0x2066, 0x206A)), "\u2028", "\u2029"}
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if (unicodedata.category(c) == "Cc" and c != "\n") or c in bidi
        }
    )


def test_cli_text_output_neutralises_control_and_bidi_characters(
    hostile: ServerProcess, as_: Callable[[str], Client], tmp_path: Path
) -> None:
    address = hostile.address

    def cli(who: str | None, *args: str) -> str:
        done = run_cli(address, who, *args)
        for stream in (done.stdout, done.stderr):
            assert dangerous(stream) == [], (args, stream)
        return done.stdout + done.stderr

    evil_input = json.dumps({"demande": ESCAPES, ESCAPES: 1})
    proposed = cli(
        "app-a",
        "propose",
        "--type", "texte.libre",
        "--subject", SUBJECT,
        "--input", evil_input,
        "--suggestion", json.dumps({"service": ESCAPES}),
        "--explanation", ESCAPES,
        "--model", f"bareme{ESCAPES.replace('@', '')}@1",
    )  # fmt: skip
    assert "<U+202E>" in proposed and "\\x1b" in proposed  # shown, not obeyed
    decided = as_("app-a").propose(
        **propose_kwargs("texte.libre", subject_ref=SUBJECT, input={"demande": ESCAPES},
                         suggestion={"service": ESCAPES}, explanation=ESCAPES)
    ).decision  # fmt: skip
    pending = (
        as_("app-a")
        .propose(
            **propose_kwargs("texte.libre", subject_ref=SUBJECT, suggestion={"service": ESCAPES})
        )
        .decision
    )
    cli("sup-a1", "claim", decided.id)
    cli("sup-a1", "decide", decided.id, "--reject", "--justification", ESCAPES)
    shown = cli("app-a", "decision", "show", decided.id)
    assert "usager:\\x1b[2J\\x07<U+202E>" in shown
    cli("app-a", "decision", "watch", decided.id)
    cli("sup-a1", "queue", "list", "--type", "texte.libre", "--page-size", "500")
    cli("insp-a", "audit", "events", "--decision", decided.id)
    cli("insp-a", "audit", "explain", decided.id)
    cli("insp-a", "audit", "explain", decided.id, "--audience", "citizen")
    cli("insp-a", "audit", "explain", pending.id)
    cli("insp-a", "audit", "stats")
    # Errors that echo what was typed or what the server said.
    cli("app-a", "decision", "show", f"x{ESCAPES}")
    cli("app-a", "propose", "--type", f"t{ESCAPES}", "--subject", "s", "--input", "{}")
    cli("app-a", "propose", "--type", "texte.libre", "--subject", SUBJECT, "--input", '{"a": 1}',
        "--tenant", f"ville{ESCAPES}")  # fmt: skip
    cli("sup-a1", "queue", "list", "--page-size", ESCAPES)
    cli("sup-a1", "decide", pending.id, "--amend", "{" + ESCAPES)
    # Admin texts written by another administrator.
    name = f"hostile-{uuid.uuid4().hex[:6]}"
    cli("admin-a", "admin", "systems", "register", name, "--kind", "advisor",
        "--endpoint", "127.0.0.1:50061", "--reason", ESCAPES)  # fmt: skip
    cli("admin-a", "admin", "versions", "add", name, "v1", "--purpose", ESCAPES,
        "--limit", ESCAPES)  # fmt: skip
    cli("admin-a", "admin", "systems", "list")
    cli("admin-a", "admin", "pin", name, "v1", "--reason", ESCAPES)
    cli("admin-a", "admin", "pins")
    cli("admin-a", "admin", "stop", "--type", "texte.libre", "--reason", ESCAPES)
    cli("admin-a2", "admin", "stop", "--type", "texte.libre", "--reason", ESCAPES)  # already
    cli("insp-a", "admin", "stops")
    cli("admin-a", "admin", "resume", "--type", "texte.libre", "--reason", "fin")
    # JSON stays JSON, and says exactly what the server holds.
    done = run_cli(address, "app-a", "--json", "decision", "show", decided.id)
    assert dangerous(done.stdout) == []
    document = json.loads(done.stdout)
    assert document["subjectRef"] == SUBJECT
    assert document["reviews"][0]["justification"] == ESCAPES.strip()
