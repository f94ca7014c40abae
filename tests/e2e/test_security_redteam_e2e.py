"""The hidden reviewer's probes of issue 10, class by class, through the real server process.

Each test attacks a whole class the issue's items name, from a side the team's own tests did
not take: text an AI system sends back (it is input too), every text field a person must fill,
every place a refusal can echo, every file an operator writes.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from google.protobuf import json_format, struct_pb2

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, InvalidArgumentError
from aval.v1 import advisor_pb2, advisor_pb2_grpc, common_pb2
from tests.support import POLICIES, ServerProcess, token_of, write_egress

from .helpers import all_events, run_cli

pytestmark = pytest.mark.e2e

FREE_SCHEMA = {
    "type": "object",
    "properties": {"service": {"type": "string"}, "note": {"type": "string"}},
    "required": ["service"],
    "additionalProperties": False,
}


def _completion(
    content: Any = None, *, model: str = "m", rationale: str = "ok", factors: Any = ()
) -> str:
    """An OpenAI chat completion whose message content is `content` (a suggestion envelope by
    default), serialised with ensure_ascii so that escapes such as \\u0000 travel as such."""
    if content is None:
        content = {
            "suggestion": {"service": "voirie"},
            "confidence": 0.5,
            "rationale": rationale,
            "factors": list(factors),
        }
    text = content if isinstance(content, str) else json.dumps(content)
    return json.dumps(
        {
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
    )


def _envelope(suggestion: Any, **extra: Any) -> dict[str, Any]:
    return {"suggestion": suggestion, "confidence": 0.5, "rationale": "ok", "factors": [], **extra}


# What a hostile or broken AI system answers: strings PostgreSQL cannot store (NUL, and lone
# surrogates, which no UTF-8 holds) in every place of its answer the gateway keeps or shows.
HOSTILE_ANSWERS: dict[str, str] = {
    "nul-rationale": _completion(rationale="avant\x00après"),
    "surrogate-rationale": _completion(rationale="avant\ud800après"),
    "nul-suggestion": _completion(_envelope({"service": "voi\x00rie"})),
    "surrogate-suggestion": _completion(_envelope({"service": "voi\udfffrie"})),
    "nul-optional": _completion(_envelope({"service": "voirie", "note": "\x00"})),
    "nul-key": _completion(_envelope({"service": "voirie", "cl\x00é": 1})),
    "surrogate-key": _completion(_envelope({"service": "voirie", "cl\ud800é": 1})),
    "nul-wrong-type": _completion(_envelope({"service": ["\x00"]})),
    "nul-factor-name": _completion(factors=[{"name": "re\x00venu", "weight": 0.5}]),
    "nul-factor-value": _completion(
        factors=[{"name": "revenu", "weight": 0.5, "value": "\ud83d\x00"}]
    ),
    "nul-model": _completion(model="m\x00odel"),
    "surrogate-model": _completion(model="m\udc00"),
    "nul-extra-field": _completion(_envelope({"service": "voirie"}, **{"ex\x00tra": 1})),
    "nul-content": _completion("\x00"),
}
# A version name no model has: it would be kept in every event, call row and report.
HOSTILE_ANSWERS["long-model"] = _completion(model="m" * 200_000)
# Token counts no call consumes, which the usage rows and reports must survive.
HUGE_USAGE: dict[str, tuple[int, int]] = {
    "usage-beyond-bigint": (10**30, 1),
    "usage-at-bigint": (2**63 - 1, 2**63 - 1),
}
for _name, (_prompt, _completion_tokens) in HUGE_USAGE.items():
    _reply = json.loads(_completion())
    _reply["usage"] = {"prompt_tokens": _prompt, "completion_tokens": _completion_tokens}
    HOSTILE_ANSWERS[_name] = json.dumps(_reply)


class HostileAI(ThreadingHTTPServer):
    """An OpenAI-compatible server on loopback answering by the path's first segment."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: HostileAI

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = HOSTILE_ANSWERS[self.path.split("/")[1]].encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HostileAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """An Advisor whose answers hold NUL characters wherever a string may be."""

    def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.ServicerContext
    ) -> advisor_pb2.SuggestResponse:
        where = request.decision_type.rsplit("_", 1)[-1]
        suggestion = struct_pb2.Struct()
        suggestion.update({"service": "voi\x00rie" if where == "suggestion" else "voirie"})
        if where == "key":
            suggestion.update({"cl\x00é": "x"})
        response = advisor_pb2.SuggestResponse(suggestion=suggestion, confidence=0.5)
        if where == "longversion":
            response.model_version = "v" * 200_000
        if where == "manyfactors":
            for i in range(5000):
                factor = response.explanation.factors.add()
                factor.name, factor.weight, factor.value = f"{i}" + "f" * 100, 0.1, "v" * 100
        if where == "longfactor":
            factor = response.explanation.factors.add()
            factor.name, factor.weight, factor.value = "f" * 200_000, 0.1, "v" * 200_000
        if where == "manysources":
            response.explanation.sources.extend(["s" * 200] * 5000)
        if where == "usage":
            response.usage.input_tokens = response.usage.output_tokens = 2**63 - 1
        response.explanation.summary = "a\x00b" if where == "summary" else "ok"
        if where == "version":
            response.model_version = "m\x00"
        if where == "factor":
            factor = response.explanation.factors.add()
            factor.name, factor.weight = "re\x00venu", 0.5
        if where == "source":
            response.explanation.sources.append("ré\x00f")
        return response


ADVISOR_PLACES = (
    "suggestion",
    "key",
    "summary",
    "version",
    "factor",
    "source",
    "usage",
    "longversion",
    "manyfactors",
    "longfactor",
    "manysources",
)


def _type(behaviour: str) -> str:
    return "hostile." + behaviour.replace("-", "_")


@pytest.fixture(scope="module")
def hostile_ai() -> Iterator[HostileAI]:
    server = HostileAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def hostile_advisor() -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(HostileAdvisor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


@pytest.fixture(scope="module")
def gateway(
    new_database: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
    hostile_ai: HostileAI,
    hostile_advisor: int,
) -> Iterator[ServerProcess]:
    """A gateway whose ville-a has one decision type per hostile answer."""
    folder = tmp_path_factory.mktemp("e2e-redteam")
    policies = folder / "hostile-policies"
    policies.mkdir()
    names = [*HOSTILE_ANSWERS, *(f"advisor-{p.replace('_', '-')}" for p in ADVISOR_PLACES)]
    extra = "".join(
        f"  {_type(b)}:\n"
        '    purpose: "tester les réponses hostiles"\n'
        "    required_approvals: 1\n"
        "    deadline: 3d\n"
        f"    ai_system: ia-{b}\n"
        f"    output_schema: {json.dumps(FREE_SCHEMA)}\n"
        for b in names
    )
    (policies / "ville-a.yaml").write_text(POLICIES["ville-a"] + extra, encoding="utf-8")
    egress = {
        "tenants": {
            "ville-a": {
                "endpoints": [
                    {"network": "127.0.0.1/32", "ports": [hostile_ai.port, hostile_advisor]}
                ]
            }
        }
    }
    process = ServerProcess.start(
        new_database(),
        folder,
        name="redteam",
        extra_env={
            "AVAL_POLICY_DIR": str(policies),
            "AVAL_AI_EGRESS_FILE": str(write_egress(folder / "egress", egress)),
        },
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="module")
def as_(gateway: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(gateway.address, token_of(principal), timeout=30)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


def _views(as_: Callable[[str], Client], decision_id: str) -> str:
    texts = [
        str(as_("app-a").get_decision(decision_id)),
        str(as_("sup-a1").get_decision(decision_id)),
        str([d for d in as_("sup-a1").list_queue(page_size=500).decisions if d.id == decision_id]),
    ]
    for event in all_events(as_("insp-a"), decision_id=decision_id):
        texts.append(json.dumps(json_format.MessageToDict(event.data), ensure_ascii=False))
    for audience in ("inspector", "citizen"):
        texts.append(as_("insp-a").explain_decision(decision_id, audience=audience).text)
    return "\n".join(texts)


# Item 6, from the other side: an AI system's answer is input too.


@pytest.mark.parametrize(
    "behaviour", [*HOSTILE_ANSWERS, *(f"advisor-{p.replace('_', '-')}" for p in ADVISOR_PLACES)]
)
def test_whatever_an_ai_system_answers_the_proposal_is_recorded_within_bounds_I6(
    as_: Callable[[str], Client],
    hostile_ai: HostileAI,
    hostile_advisor: int,
    gateway: ServerProcess,
    behaviour: str,
) -> None:
    logged = len(gateway.log_path.read_bytes())
    if behaviour.startswith("advisor-"):
        as_("admin-a").register_ai_system(
            f"ia-{behaviour}",
            kind="advisor",
            endpoint=f"127.0.0.1:{hostile_advisor}",
            max_attempts=1,
            energy_mwh_per_1k_tokens=5,
            cost_micro_eur_per_1k_tokens=1000,
            reason="essai",
        )
    else:
        as_("admin-a").register_ai_system(
            f"ia-{behaviour}",
            kind="openai",
            endpoint=hostile_ai.url(behaviour),
            model="m",
            max_attempts=1,
            energy_mwh_per_1k_tokens=5,
            cost_micro_eur_per_1k_tokens=1000,
            reason="essai",
        )
    reply = as_("app-a").propose(
        decision_type=_type(behaviour),
        subject_ref=f"usager:{uuid.uuid4().hex[:8]}",
        input={"description": "un lampadaire éteint"},
        idempotency_key=str(uuid.uuid4()),
    )
    decision = reply.decision
    assert decision.state == common_pb2.DECISION_STATE_PENDING_REVIEW
    seen = _views(as_, decision.id)
    assert "\x00" not in seen
    assert len(seen) < 100_000, "what a backend says is kept within bounds"
    shown = run_cli(gateway.address, "sup-a1", "decision", "show", decision.id)
    assert shown.returncode == 0, shown.stderr
    as_("admin-a").get_usage()  # the report still adds every call up
    log = gateway.log_path.read_bytes()[logged:].decode("utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


# Item 14, beyond reasons: what a person must read to know what they act on.

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


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_the_last_of_several_servers_stops_the_embedded_database_after_one_was_killed(
    tmp_path: Path,
) -> None:
    """Two servers share the embedded PostgreSQL; one is killed with SIGKILL while the other
    runs on. When the survivor exits cleanly it is the last one: PostgreSQL stops."""
    first = ServerProcess.start(None, tmp_path, name="first", signing_key=False)
    survivor = ServerProcess.start(None, tmp_path, name="survivor", signing_key=False)
    pgdata = tmp_path / "data" / "pgdata"
    postmaster = _postmaster_pid(pgdata)
    handles = json.loads((pgdata / ".handle_pids.json").read_text())
    assert first.process.pid in handles and survivor.process.pid in handles
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    assert survivor.stop() == 0, survivor.log_path.read_text()
    assert _gone(postmaster, 30), "PostgreSQL still runs after its last server exited"
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []


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
