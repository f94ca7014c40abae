"""Names people read, forged page tokens, text that is not UTF-8, and other tenants' ids."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, InvalidArgumentError
from tests.e2e.helpers import all_events
from tests.support import ServerProcess, token_of

from .hostile import HostileAI

pytestmark = pytest.mark.e2e


INVISIBLE = ["\u200b", "\u2060\ufeff", "\u202e", "\u3164", "\u00ad\u034f"]


@pytest.mark.parametrize("text", INVISIBLE)
def test_names_people_read_need_a_visible_character(
    as_: Callable[[str], Client], hostile_ai: HostileAI, text: str
) -> None:
    """A decision's subject, a model version and its known limits identify what a reviewer
    validates and what a second administrator approves: none may be invisible."""
    app, admin = as_("app-a"), as_("admin-a")
    system = f"ia-vis-{uuid.uuid4().hex[:8]}"
    admin.register_ai_system(
        system, kind="openai", endpoint=hostile_ai.url("x"), model="m", reason="essai"
    )
    calls: list[tuple[str, Callable[[], Any]]] = [
        (
            "subject_ref",
            lambda: app.propose(
                decision_type="voirie.signalement",
                subject_ref=text,
                input={"description": "x"},
                idempotency_key=str(uuid.uuid4()),
            ),
        ),
        (
            "idempotency_key",
            lambda: app.propose(
                decision_type="voirie.signalement",
                subject_ref="usager:1",
                input={"description": "x"},
                idempotency_key=text,
            ),
        ),
    ]
    calls += [
        (
            "version",
            lambda: admin.register_model_version(system, text, intended_purpose="orienter"),
        ),
        (
            "instructions.known_limits",
            lambda: admin.register_model_version(
                system,
                f"v-{uuid.uuid4().hex[:6]}",
                intended_purpose="orienter",
                known_limits=[text],
            ),
        ),
        (
            "instructions.metrics",
            lambda: admin.register_model_version(
                system,
                f"v-{uuid.uuid4().hex[:6]}",
                intended_purpose="orienter",
                metrics={text: 0.9},
            ),
        ),
    ]
    for field, call in calls:
        with pytest.raises(InvalidArgumentError) as caught:
            call()
        fields = [v.field for v in caught.value.violations]
        assert any(f.startswith(field) for f in fields), (field, fields)


# Item 16, with several servers sharing the embedded database.


# Item 6 through a side door: strings that arrive encoded inside another one.


def _token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


FORGED_EVENT_TOKENS = [
    _token("ev1:1:ville-a\x00"),
    _token("ev1:1:\x00"),
    _token("ev1:99999999999999999999999999:ville-a"),
    _token("ev1:\u0663:ville-a"),
    _token("ev1:\u00b2:ville-a"),
    _token("ev1:1:" + "v" * 5000),
    _token("ev1:1:ville-a\ud800"),
]
FORGED_QUEUE_TOKENS = [
    _token("2026-01-01T00:00:00+00:00|00000000-0000-0000-0000-00000000000\x00"),
    _token("2026-01-01T00:00:00\x00|00000000-0000-0000-0000-000000000000"),
    _token("9999-12-31T23:59:59-14:00|00000000-0000-0000-0000-000000000000"),
    _token("0001-01-01T00:00:00+14:00|00000000-0000-0000-0000-000000000000"),
    _token("2026-01-01|00000000-0000-0000-0000-000000000000"),
    _token("|"),
    _token("no bar"),
]


def test_forged_page_tokens_are_refused_or_served_never_unknown_I6(
    as_: Callable[[str], Client], gateway: ServerProcess
) -> None:
    """A page token is the caller's input too, whatever it decodes to."""
    logged = len(gateway.log_path.read_bytes())
    for token in FORGED_EVENT_TOKENS:
        try:
            as_("insp-a").query_events(page_token=token)
        except InvalidArgumentError as error:
            assert [v.field for v in error.violations] == ["page_token"], token
    for token in FORGED_QUEUE_TOKENS:
        try:
            as_("sup-a1").list_queue(page_token=token)
        except InvalidArgumentError as error:
            assert [v.field for v in error.violations] == ["page_token"], token
    log = gateway.log_path.read_bytes()[logged:].decode("utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


# Items 6 and 8 on the client's side: text no UTF-8 holds is refused plainly, never a traceback.

NOT_UTF8_ARGUMENTS: list[list[bytes]] = [
    [b"propose", b"--type", b"voirie.signalement", b"--subject", b"usager:\xff", b"--input", b"{}"],
    [b"propose", b"--type", b"voirie.signalement", b"--subject", b"u", b"--input", b'{"a":"\xff"}'],
    [
        b"propose",
        b"--type",
        b"voirie.signalement",
        b"--subject",
        b"u",
        b"--input",
        b'{"\\udfff":1}',
    ],
    [
        b"propose",
        b"--type",
        b"voirie.signalement",
        b"--subject",
        b"u",
        b"--input",
        b'{"a":"\\ud800"}',
    ],
    [b"queue", b"list", b"--type", b"\xff"],
    [b"decision", b"show", b"\xff"],
    [b"--token", b"\xff", b"queue", b"list"],
]


@pytest.mark.parametrize(
    "arguments", NOT_UTF8_ARGUMENTS, ids=lambda a: b" ".join(a).decode("latin-1")
)
def test_the_cli_refuses_text_that_is_not_utf8_without_a_traceback(
    gateway: ServerProcess, arguments: list[bytes]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAL_")}
    env |= {"AVAL_ADDRESS": gateway.address, "AVAL_TOKEN": token_of("app-a"), "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", *arguments],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")
    assert b"UTF-8" in done.stderr, done.stderr


def test_the_sdk_refuses_text_that_is_not_utf8_as_invalid_argument(
    as_: Callable[[str], Client],
) -> None:
    app = as_("app-a")
    calls: list[Callable[[], Any]] = [
        lambda: app.propose(
            decision_type="voirie.signalement",
            subject_ref="usager:\ud800",
            input={"a": 1},
            idempotency_key=str(uuid.uuid4()),
        ),
        lambda: app.propose(
            decision_type="voirie.signalement",
            subject_ref="usager:1",
            input={"a": {"b": ["\udfff"]}},
            idempotency_key=str(uuid.uuid4()),
        ),
        lambda: app.list_queue(decision_type="\ud800"),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError):
            call()


# Item 13, by id rather than by tenant name: another tenant's ids are refused like unknown ones.


def test_another_tenants_ids_are_refused_exactly_like_ids_nobody_has_I5(
    client_of: Callable[[str], Client],
) -> None:
    """What a caller of ville-b is told about a decision, event or pin request of ville-a is
    what it is told about an id that does not exist: same code, reason and text but the id."""
    reply = client_of("app-a").propose(
        decision_type="voirie.signalement",
        subject_ref="usager:enum",
        input={"description": "x"},
        idempotency_key=str(uuid.uuid4()),
    )
    theirs, nobodys = reply.decision.id, str(uuid.uuid4())
    [event] = all_events(client_of("insp-a"), decision_id=theirs)[:1]
    probes: dict[str, Callable[[Client, str], Any]] = {
        "get_decision": lambda c, i: c.get_decision(i),
        "claim": lambda c, i: c.claim(i),
        "decide": lambda c, i: c.decide(i, verdict="approve"),
        "explain_decision": lambda c, i: c.explain_decision(i),
        "query_events": lambda c, i: list(all_events(c, decision_id=i)),
        "prove_inclusion": lambda c, i: c.prove_inclusion(event_id=i),
        "decide_pin": lambda c, i: c.decide_pin(i, approve=True, reason="vu"),
    }
    callers = {
        "get_decision": "app-b",
        "claim": "sup-b",
        "decide": "sup-b",
        "explain_decision": "insp-b",
        "query_events": "insp-b",
        "prove_inclusion": "insp-b",
        "decide_pin": "admin-b",
    }
    for name, probe in probes.items():
        client = client_of(callers[name])
        target = event.event_id if name == "prove_inclusion" else theirs
        answers = []
        for some_id in (target, nobodys):
            try:
                result = probe(client, some_id)
            except AvalError as error:
                said = " ".join([str(error), error.localized, str(error.violations)])
                answers.append((type(error).__name__, error.reason, said.replace(some_id, "ID")))
            else:
                answers.append(("answered", "", str(result).replace(some_id, "ID")))
        assert answers[0] == answers[1], (name, answers)
