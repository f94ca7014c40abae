"""What a tenant administrator can make the gateway send, and to whom (issue 10, items 1, 4, 5),
through the real server process.

The operator's AI egress file (AVAL_AI_EGRESS_FILE) names, per tenant, the secrets an AI system
may use and the endpoints it may reach. A tenant administrator chooses among those, never an
environment variable or an address of their own (I5); a change of what a pinned or policy-named
system answers needs a second administrator (four eyes, R18); and what an AI backend says when
it fails never reaches applications, reviewers or the trail, beyond a status and a fixed reason.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
import yaml
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import (
    AvalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from aval.v1 import admin_pb2, advisor_pb2, advisor_pb2_grpc, common_pb2
from tests.support import POLICIES, ServerProcess, token_of, write_config, write_egress

from .helpers import all_events, run_cli

pytestmark = pytest.mark.e2e

SECRET_A = f"sk-ville-a-{secrets.token_hex(12)}"
SECRET_A2 = f"sk-ville-a2-{secrets.token_hex(12)}"
SECRET_B = f"sk-ville-b-{secrets.token_hex(12)}"
# What an internal page or a failing backend shows: it must never travel further.
LEAK = f"LEAK-{secrets.token_hex(10)}"
SERVICE_SCHEMA = {
    "type": "object",
    "properties": {"service": {"type": "string"}},
    "required": ["service"],
    "additionalProperties": False,
}


class Recorder(ThreadingHTTPServer):
    """An HTTP server on loopback that records what reaches it and answers by the path's first
    segment (see `_answer`)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"

    def paths(self, behaviour: str) -> list[dict[str, str]]:
        return [headers for path, headers in self.seen if path.startswith(f"/{behaviour}/")]


def _answer(server: Recorder, behaviour: str, headers: dict[str, str]) -> tuple[int, str, str, str]:
    """(status, reason phrase, content type, body) of the scripted behaviours."""
    page = (
        "<html><head><title>Console d'administration interne</title></head>"
        f"<body>mot de passe de la base : {LEAK}</body></html>"
    )
    if behaviour == "leak-500":
        return 500, "Internal Server Error", "text/html", page
    if behaviour == "leak-401":  # as some servers do, quoting the key it was given
        message = f"Incorrect API key provided: {headers.get('authorization', '')} ({LEAK})"
        return 401, "Unauthorized", "application/json", json.dumps({"error": {"message": message}})
    if behaviour == "leak-404":
        return 404, "Not Found", "application/json", json.dumps({"error": f"no route {LEAK}"})
    if behaviour == "leak-429":
        return 429, "Too Many Requests", "text/plain", f"slow down {LEAK}"
    if behaviour == "leak-503":  # the remote's own reason phrase carries it
        return 503, f"Unavailable {LEAK}", "application/json", json.dumps({"detail": LEAK})
    if behaviour == "leak-200":
        return 200, "OK", "text/html", page
    if behaviour == "redirect":
        return 302, "Found", "text/plain", f"http://127.0.0.1:{server.port}/stolen/v1"
    return 404, "Not Found", "application/json", json.dumps({"error": "no such route"})


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append((self.path, headers))
        behaviour = self.path.split("/")[1]
        status, phrase, content_type, body = _answer(self.server, behaviour, headers)
        data = body.encode("utf-8")
        self.send_response(status, phrase)
        if status == 302:
            self.send_header("Location", f"{body}/chat/completions")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http() -> Iterator[Recorder]:
    """The AI backends the operator allowed (by network and port)."""
    server = Recorder()
    yield from (server for _ in _serve(server))


@pytest.fixture(scope="module")
def internal() -> Iterator[Recorder]:
    """An internal service nobody allowed: nothing may ever reach it."""
    server = Recorder()
    yield from (server for _ in _serve(server))


class LeakyAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """An Advisor failing with remote text that must not travel: INTERNAL or UNAVAILABLE."""

    def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.ServicerContext
    ) -> advisor_pb2.SuggestResponse:
        code = grpc.StatusCode.UNAVAILABLE if "unavailable" in request.decision_type else None
        context.abort(code or grpc.StatusCode.INTERNAL, f"Traceback: secret={LEAK}")
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def advisor() -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(LeakyAdvisor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


HTTP_LEAKS = ("leak-500", "leak-401", "leak-404", "leak-429", "leak-503", "leak-200", "redirect")
ADVISOR_LEAKS = ("advisor-internal", "advisor-unavailable")


def type_of(behaviour: str) -> str:
    return "fuite." + behaviour.replace("-", "_")


def _policy_files(folder: Path) -> Path:
    """ville-a's test policies plus one type per scripted behaviour; ville-b with one AI type."""
    folder.mkdir(parents=True, exist_ok=True)
    types = {type_of(b): f"ia-fuite-{b}" for b in (*HTTP_LEAKS, *ADVISOR_LEAKS)}
    for field in ("endpoint", "model", "api_key_env", "kind"):
        types[f"garde.nommee_{field}"] = f"ia-nommee-{field.replace('_', '-')}"
    extra = "".join(
        f"  {name}:\n"
        '    purpose: "tester la sortie vers l\'IA"\n'
        "    required_approvals: 1\n"
        "    deadline: 3d\n"
        f"    ai_system: {system}\n"
        f"    output_schema: {json.dumps(SERVICE_SCHEMA)}\n"
        for name, system in types.items()
    )
    (folder / "ville-a.yaml").write_text(POLICIES["ville-a"] + extra, encoding="utf-8")
    ville_b = {
        "tenant": "ville-b",
        "preset": "assumed_distrust",
        "contact": "Mairie de Ville-B",
        "decision_types": {
            "b.llm": {
                "purpose": "orienter les signalements",
                "required_approvals": 1,
                "deadline": "3d",
                "ai_system": "ia-b",
                "output_schema": SERVICE_SCHEMA,
            }
        },
    }
    (folder / "ville-b.yaml").write_text(yaml.safe_dump(ville_b), encoding="utf-8")
    return folder


def egress_of(http_port: int, advisor_port: int) -> dict[str, Any]:
    return {
        "tenants": {
            "ville-a": {
                "secrets": {
                    "albert-a": "AVAL_TEST_SECRET_VILLE_A",
                    "albert-a-2": "AVAL_TEST_SECRET_VILLE_A_2",
                },
                "endpoints": [
                    {"network": "127.0.0.0/8", "ports": [http_port, advisor_port]},
                    {"host": "localhost", "ports": [http_port]},
                ],
            },
            "ville-b": {
                "secrets": {"mistral-b": "AVAL_TEST_SECRET_VILLE_B"},
                "endpoints": [{"network": "127.0.0.1/32", "ports": [http_port]}],
            },
        }
    }


@pytest.fixture(scope="module")
def guarded_db(new_database: Callable[..., str]) -> str:
    return new_database()


@pytest.fixture(scope="module")
def guarded(
    guarded_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    http: Recorder,
    advisor: int,
) -> Iterator[ServerProcess]:
    """A gateway whose operator allowed loopback backends and one or two secrets per tenant."""
    folder = tmp_path_factory.mktemp("e2e-egress")
    process = ServerProcess.start(
        guarded_db,
        folder,
        name="egress",
        extra_env={
            "AVAL_POLICY_DIR": str(_policy_files(folder / "egress-policies")),
            "AVAL_AI_EGRESS_FILE": str(
                write_egress(folder / "egress", egress_of(http.port, advisor))
            ),
            "AVAL_TEST_SECRET_VILLE_A": SECRET_A,
            "AVAL_TEST_SECRET_VILLE_A_2": SECRET_A2,
            "AVAL_TEST_SECRET_VILLE_B": SECRET_B,
        },
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="module")
def as_(guarded: ServerProcess) -> Iterator[Callable[..., Client]]:
    """`as_("admin-a")`: a client of the guarded gateway holding that principal's token."""
    clients: dict[tuple[str, str], Client] = {}

    def get(principal: str, language: str = "fr") -> Client:
        key = (principal, language)
        if key not in clients:
            clients[key] = Client(
                guarded.address, token_of(principal), timeout=30, language=language
            )
        return clients[key]

    yield get
    for client in clients.values():
        client.close()


def a_name() -> str:
    return f"ia-{uuid.uuid4().hex[:8]}"


def refused(kind: type[AvalError], call: Callable[[], Any]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        call()
    assert type(caught.value) is kind, f"{caught.value.code.name}: {caught.value}"
    return caught.value


def everything_said(error: AvalError) -> str:
    return " ".join(
        [str(error), error.localized, *(f"{v.description} {v.localized}" for v in error.violations)]
    )


# Item 1: endpoints.


def refused_endpoints(http_port: int, advisor_port: int) -> list[tuple[str, str]]:
    """(kind, endpoint) pairs that the allow-list of ville-a must refuse, tricks included."""
    p, a = http_port, advisor_port
    openai = [
        "http://127.0.0.1:5432/v1",  # an allowed network, another port
        "http://169.254.169.254/latest/meta-data",
        f"http://10.0.0.1:{p}/v1",
        f"http://0.0.0.0:{p}/v1",
        f"http://2130706433:{p}/v1",
        f"http://0x7f000001:{p}/v1",
        f"http://127.1:{p}/v1",
        f"http://017700000001:{p}/v1",
        f"http://[::1]:{p}/v1",
        f"http://[::]:{p}/v1",
        f"http://[::ffff:169.254.169.254]:{p}/v1",
        f"http://[fe80::1%25lo]:{p}/v1",
        f"http://user@127.0.0.1:{p}/v1",
        f"http://127.0.0.1:{p}@169.254.169.254/v1",
        f"http://localhost:{p}@169.254.169.254/v1",
        f"http://127.0.0.1\\@169.254.169.254:{p}/v1",
        f"http://%31%32%37.0.0.1:{p}/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "https://api.openai.com/v1",
        "http://localhost:5432/v1",  # a name allowed on another port
        f"http://localhost:{p}.evil.example/v1",
    ]
    advisor = [
        "169.254.169.254:80",
        f"0.0.0.0:{a}",
        f"[::1]:{a}",
        f"[::]:{a}",
        f"10.0.0.1:{a}",
        "127.0.0.1:5432",
        f"2130706433:{a}",
        f"unix:{a}",
        f"metadata.google.internal:{a}",
    ]
    return [("openai", e) for e in openai] + [("advisor", e) for e in advisor]


def test_endpoints_outside_the_operators_allow_list_are_refused_whatever_their_spelling_I5(
    as_: Callable[..., Client], http: Recorder, advisor: int
) -> None:
    admin = as_("admin-a")
    registered = len(admin.list_ai_systems().ai_systems)
    for kind, endpoint in refused_endpoints(http.port, advisor):
        error = refused(
            InvalidArgumentError,
            lambda kind=kind, endpoint=endpoint: admin.register_ai_system(
                a_name(), kind=kind, endpoint=endpoint, model="m", reason="essai"
            ),
        )
        assert [v.field for v in error.violations] == ["ai_system.endpoint"], (endpoint, error)
    assert len(admin.list_ai_systems().ai_systems) == registered  # nothing written
    # What the operator allowed is accepted: by network and port, or by name.
    for kind, endpoint in [
        ("openai", http.url("ok")),
        ("openai", f"http://127.0.0.2:{http.port}/v1"),
        ("openai", f"http://localhost:{http.port}/v1"),
        ("openai", f"http://LOCALHOST.:{http.port}/v1"),
        ("advisor", f"127.0.0.1:{advisor}"),
    ]:
        reply = admin.register_ai_system(
            a_name(),
            kind=kind,
            endpoint=endpoint,
            model="m",
            reason="essai",  # type: ignore[arg-type]
        )
        assert reply.created, endpoint


def test_a_refused_endpoint_says_how_to_have_it_allowed_I6(
    as_: Callable[..., Client], internal: Recorder
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("admin-a", "en").register_ai_system(
            a_name(), kind="openai", endpoint=internal.url("x"), model="m", reason="essai"
        ),
    )
    [violation] = error.violations
    assert violation.field == "ai_system.endpoint"
    assert "AVAL_AI_EGRESS_FILE" in violation.text and "operator" in violation.text
    french = refused(
        InvalidArgumentError,
        lambda: as_("admin-a").register_ai_system(
            a_name(), kind="openai", endpoint=internal.url("x"), model="m", reason="essai"
        ),
    )
    assert "exploitant" in french.violations[0].text


# Item 1: secrets.

FOREIGN_NAMES = [
    "albert-a",  # ville-a's secret
    "AVAL_TEST_SECRET_VILLE_A",  # the variable behind it
    "AVAL_TEST_SECRET_VILLE_B",  # the variable behind ville-b's own secret
    "AVAL_DATABASE_URL",
    "AVAL_SIGNING_KEY_FILE",
    "PATH",
    "HOME",
    "MISTRAL-B",
    "mistral-b/../albert-a",
    SECRET_A,  # a key pasted by mistake
]


@pytest.mark.parametrize("name", FOREIGN_NAMES)
def test_a_tenant_admin_names_only_a_secret_the_operator_declared_for_their_tenant_I5(
    as_: Callable[..., Client], http: Recorder, name: str
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("admin-b").register_ai_system(
            a_name(),
            kind="openai",
            endpoint=http.url("ok"),
            model="m",
            api_key_env=name,
            reason="essai",
        ),
    )
    assert [v.field for v in error.violations] == ["ai_system.api_key_env"]
    said = everything_said(error)
    assert "mistral-b" in said  # the names it may use
    for never in ("albert-a", "AVAL_TEST_SECRET", SECRET_A, SECRET_B, "AVAL_DATABASE_URL"):
        assert never not in said, never


def test_each_tenant_uses_its_own_declared_secrets(
    as_: Callable[..., Client], http: Recorder
) -> None:
    reply = as_("admin-b").register_ai_system(
        a_name(),
        kind="openai",
        endpoint=http.url("ok"),
        model="m",
        api_key_env="mistral-b",
        reason="essai",
    )
    assert reply.created and reply.ai_system.api_key_env == "mistral-b"
    reply = as_("admin-a").register_ai_system(
        a_name(),
        kind="openai",
        endpoint=http.url("ok"),
        model="m",
        api_key_env="albert-a",
        reason="essai",
    )
    assert reply.created and reply.ai_system.api_key_env == "albert-a"


def _legacy_row(url: str, name: str, endpoint: str, api_key_env: str) -> None:
    """An AI system of ville-b written as earlier versions allowed: any variable, any endpoint."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO aval.ai_systems (tenant_id, name, kind, endpoint, model, api_key_env,"
            " enabled, timeout_ms, max_attempts, created_at, updated_at)"
            " VALUES ('ville-b', %s, 'OPENAI_COMPATIBLE', %s, 'm', %s, true, 3000, 1, %s, %s)"
            " ON CONFLICT (tenant_id, name) DO UPDATE"
            " SET endpoint = EXCLUDED.endpoint, api_key_env = EXCLUDED.api_key_env",
            (name, endpoint, api_key_env, datetime.now(UTC), datetime.now(UTC)),
        )


def _propose(client: Client, decision_type: str) -> common_pb2.Decision:
    reply = client.propose(
        decision_type=decision_type,
        subject_ref=f"usager:{uuid.uuid4().hex[:8]}",
        input={"description": "un lampadaire éteint"},
        idempotency_key=str(uuid.uuid4()),
    )
    return reply.decision  # type: ignore[no-any-return]


def _views(as_: Callable[..., Client], tenant: str, decision_id: str) -> str:
    """Everything the application, a reviewer and an inspector can read about a decision."""
    app, sup, insp = {
        "ville-a": ("app-a", "sup-a1", "insp-a"),
        "ville-b": ("app-b", "sup-b", "insp-b"),
    }[tenant]
    texts = [
        str(as_(app).get_decision(decision_id)),
        str(as_(app, "en").get_decision(decision_id, language="en")),
        str(as_(sup).get_decision(decision_id)),
        str([d for d in as_(sup).list_queue(page_size=500).decisions if d.id == decision_id]),
    ]
    for event in all_events(as_(insp), decision_id=decision_id):
        texts.append(json.dumps(json_format.MessageToDict(event.data), ensure_ascii=False))
    for audience in ("inspector", "citizen"):
        texts.append(as_(insp).explain_decision(decision_id, audience=audience).text)
    return "\n".join(texts)


@pytest.mark.parametrize(
    "variable",
    ["AVAL_TEST_SECRET_VILLE_A", "AVAL_DATABASE_URL", "albert-a", "PATH", "AVAL_SIGNING_KEY_FILE"],
)
def test_a_system_registered_earlier_with_a_raw_variable_never_reads_it_I5(
    as_: Callable[..., Client], http: Recorder, guarded_db: str, variable: str
) -> None:
    _legacy_row(guarded_db, "ia-b", http.url("b-legacy"), variable)
    before = len(http.paths("b-legacy"))
    decision = _propose(as_("app-b"), "b.llm")
    assert decision.state == common_pb2.DECISION_STATE_PENDING_REVIEW
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.advice_reason == "AI_SECRET_NOT_DECLARED"
    assert len(http.paths("b-legacy")) == before  # not called
    seen = _views(as_, "ville-b", decision.id)
    for never in (SECRET_A, SECRET_B, guarded_db, os.environ.get("PATH", "/usr/bin")):
        assert never not in seen


def test_a_system_without_secret_is_called_without_a_key(
    as_: Callable[..., Client], http: Recorder, guarded_db: str
) -> None:
    _legacy_row(guarded_db, "ia-b", http.url("b-legacy"), "")
    before = len(http.paths("b-legacy"))
    decision = _propose(as_("app-b"), "b.llm")
    [headers] = http.paths("b-legacy")[before:]
    assert "authorization" not in headers
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.advice_reason == "AI_ANSWER"


def test_a_system_registered_earlier_with_a_forbidden_endpoint_is_never_called_I5(
    as_: Callable[..., Client], http: Recorder, internal: Recorder, guarded_db: str
) -> None:
    for endpoint in (internal.url("admin"), f"http://127.0.0.2:{http.port}/b-legacy/v1"):
        _legacy_row(guarded_db, "ia-b", endpoint, "")
        decision = _propose(as_("app-b"), "b.llm")
        assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
        assert decision.advice_reason == "AI_ENDPOINT_NOT_ALLOWED", endpoint
    assert internal.seen == []


def test_the_key_goes_only_to_the_registered_endpoint_and_redirects_are_not_followed(
    as_: Callable[..., Client], http: Recorder
) -> None:
    as_("admin-a").register_ai_system(
        "ia-fuite-redirect",
        kind="openai",
        endpoint=http.url("redirect"),
        model="m",
        api_key_env="albert-a",
        max_attempts=1,
        reason="essai",
    )
    decision = _propose(as_("app-a"), type_of("redirect"))
    [headers] = http.paths("redirect")
    assert headers["authorization"] == f"Bearer {SECRET_A}"
    assert http.paths("stolen") == []
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert "HTTP 302" in as_("app-a", "en").get_decision(decision.id, language="en").advice_detail


# Item 5: what a failing backend says never travels.


@pytest.mark.parametrize("behaviour", HTTP_LEAKS[:-1] + ADVISOR_LEAKS)
def test_an_ai_error_shows_a_status_and_a_fixed_reason_never_the_remote_text(
    as_: Callable[..., Client], http: Recorder, advisor: int, behaviour: str, guarded: ServerProcess
) -> None:
    name = f"ia-fuite-{behaviour}"
    if behaviour.startswith("advisor"):
        as_("admin-a").register_ai_system(
            name, kind="advisor", endpoint=f"127.0.0.1:{advisor}", reason="essai"
        )
    else:
        as_("admin-a").register_ai_system(
            name,
            kind="openai",
            endpoint=http.url(behaviour),
            model="m",
            api_key_env="albert-a",
            reason="essai",
        )
    decision = _propose(as_("app-a"), type_of(behaviour))
    assert decision.advice_status in (
        common_pb2.ADVICE_STATUS_UNAVAILABLE,
        common_pb2.ADVICE_STATUS_INVALID_OUTPUT,
    )
    detail = as_("app-a", "en").get_decision(decision.id, language="en").advice_detail
    if behaviour.startswith("leak-") and behaviour != "leak-200":
        status = behaviour.removeprefix("leak-")
        assert f"HTTP {status}" in detail, detail
    seen = _views(as_, "ville-a", decision.id)
    shown = run_cli(guarded.address, "sup-a1", "decision", "show", decision.id)
    assert shown.returncode == 0, shown.stderr
    for never in (LEAK, SECRET_A, "Console d'administration", "Traceback"):
        assert never not in seen, never
        assert never not in shown.stdout + shown.stderr, never


# Item 4: four eyes on every change of what a pinned or policy-named system answers.


def _changes(http: Recorder, advisor: int) -> dict[str, dict[str, Any]]:
    """Per field that alters answers, a registration that changes it (a change of kind changes
    what goes with it)."""
    return {
        "endpoint": {"endpoint": http.url("ok-2")},
        "model": {"model": "m2"},
        "api_key_env": {"api_key_env": "albert-a-2"},
        "kind": {
            "kind": "advisor",
            "endpoint": f"127.0.0.1:{advisor}",
            "model": "",
            "api_key_env": "",
        },
    }


BASE: dict[str, Any] = {"kind": "openai", "model": "m1", "api_key_env": "albert-a"}
WIRE = {
    "openai": admin_pb2.BACKEND_KIND_OPENAI_COMPATIBLE,
    "advisor": admin_pb2.BACKEND_KIND_ADVISOR,
}
ANSWERING = ("kind", "endpoint", "model", "api_key_env")


def _configuration(system: admin_pb2.AISystem) -> dict[str, Any]:
    return {name: getattr(system, name) for name in ANSWERING}


def _system(client: Client, name: str) -> admin_pb2.AISystem:
    [system] = [s for s in client.list_ai_systems().ai_systems if s.name == name]
    return system


def _in_service(as_: Callable[..., Client], http: Recorder, name: str, *, pin: bool) -> None:
    """Registers `name` (then pins a version, with four eyes, when `pin`)."""
    admin = as_("admin-a")
    admin.register_ai_system(name, endpoint=http.url("ok"), reason="mise en service", **BASE)
    if pin:
        admin.register_model_version(name, "1.0", intended_purpose="orienter")
        request = admin.request_pin(name, "1.0", reason="mise en service")
        as_("admin-a2").decide_pin(request.id, approve=True, reason="relu")


def _admin_events(as_: Callable[..., Client], name: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for event in all_events(as_("insp-a")):
        data = json_format.MessageToDict(event.data)
        if event.kind.startswith("admin.") and data.get("ai_system") == name:
            found.append((event.kind, event.actor_id, data))
    return found


@pytest.mark.parametrize("field", ANSWERING)
@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "named-by-a-policy"])
def test_every_change_of_what_a_system_in_service_answers_needs_a_second_administrator_R18(
    as_: Callable[..., Client], http: Recorder, advisor: int, field: str, pinned: bool
) -> None:
    name = a_name() if pinned else f"ia-nommee-{field.replace('_', '-')}"
    _in_service(as_, http, name, pin=pinned)
    a, a2 = as_("admin-a"), as_("admin-a2")
    before = _configuration(_system(a, name))
    asked = {**BASE, "endpoint": http.url("ok"), **_changes(http, advisor)[field]}
    after = {**asked, "kind": WIRE[asked["kind"]]}
    reply = a.register_ai_system(name, reason="changement", **asked)
    pending = reply.pending_change
    assert pending.id and pending.state == admin_pb2.PIN_REQUEST_STATE_PENDING
    assert pending.requested_by == "admin-a" and pending.ai_system == name
    changed = {c.field for c in pending.configuration_changes}
    assert field in changed and changed == {f for f in ANSWERING if before[f] != after[f]}
    assert _configuration(reply.ai_system) == before  # held, not applied
    assert _configuration(_system(a, name)) == before
    assert pending.id in [p.id for p in a2.list_pin_requests(pending_only=True).pin_requests]
    # The requester cannot approve it; another tenant's administrator cannot even see it.
    own = refused(
        PermissionDeniedError, lambda: a.decide_pin(pending.id, approve=True, reason="ok")
    )
    assert own.reason == "PIN_REQUESTER_CANNOT_DECIDE"
    refused(NotFoundError, lambda: as_("admin-b").decide_pin(pending.id, approve=True, reason="ok"))
    refused(
        PermissionDeniedError,
        lambda: as_("admin-b").decide_pin(pending.id, approve=True, reason="ok", tenant="ville-a"),
    )
    assert _configuration(_system(a, name)) == before
    approved = a2.decide_pin(pending.id, approve=True, reason="vérifié")
    assert approved.pin_request.state == admin_pb2.PIN_REQUEST_STATE_APPROVED
    assert _configuration(approved.ai_system) == after
    assert _configuration(_system(a, name)) == after
    steps = [(kind, actor) for kind, actor, _ in _admin_events(as_, name)[-2:]]
    assert steps == [
        ("admin.ai_system_change_requested", "admin-a"),
        ("admin.ai_system_change_approved", "admin-a2"),
    ]
    # Back as it was, asked by the other administrator: a refusal changes nothing.
    back = a2.register_ai_system(name, endpoint=http.url("ok"), reason="retour", **BASE)
    refusal = a.decide_pin(back.pending_change.id, approve=False, reason="non")
    assert refusal.pin_request.state == admin_pb2.PIN_REQUEST_STATE_REFUSED
    assert _configuration(_system(a, name)) == after
    assert _admin_events(as_, name)[-1][:2] == ("admin.ai_system_change_refused", "admin-a")
    assert as_("insp-a").verify_chain().ok


CHEAP = {
    "timeout_seconds": 3,
    "max_attempts": 4,
    "energy_mwh_per_call": 7,
    "energy_mwh_per_1k_tokens": 8,
    "cost_micro_eur_per_call": 9,
    "cost_micro_eur_per_1k_tokens": 10,
    "enabled": False,
}


@pytest.mark.parametrize("option", list(CHEAP))
def test_changes_that_cannot_alter_an_answer_apply_at_once(
    as_: Callable[..., Client], http: Recorder, option: str
) -> None:
    name = a_name()
    _in_service(as_, http, name, pin=True)
    reply = as_("admin-a").register_ai_system(
        name, endpoint=http.url("ok"), reason="réglage", **BASE, **{option: CHEAP[option]}
    )
    assert not reply.HasField("pending_change")
    system = _system(as_("admin-a"), name)
    value = {
        "timeout_seconds": system.timeout.seconds,
        "enabled": system.enabled,
    }.get(option, getattr(system, option, None))
    assert value == CHEAP[option]


def test_a_held_change_through_the_command_line_says_who_must_approve_it(
    as_: Callable[..., Client], http: Recorder, guarded: ServerProcess
) -> None:
    name = a_name()
    _in_service(as_, http, name, pin=True)
    register = run_cli(
        guarded.address,
        "admin-a",
        *("admin", "systems", "register", name, "--kind", "openai"),
        *("--endpoint", http.url("ok-2"), "--reason", "nouveau serveur"),
    )
    assert register.returncode == 0, register.stderr
    pending = as_("admin-a2").list_pin_requests(pending_only=True).pin_requests
    [request] = [p for p in pending if p.ai_system == name]
    assert f"aval admin pins approve {request.id}" in register.stdout
    assert "attente" in register.stdout
    listed = run_cli(guarded.address, "admin-a2", "admin", "pins", "--pending")
    assert request.id in listed.stdout and "endpoint" in listed.stdout
    approve = run_cli(
        guarded.address, "admin-a2", "admin", "pins", "approve", request.id, "--reason", "vu"
    )
    assert approve.returncode == 0, approve.stderr
    assert name in approve.stdout
    assert _system(as_("admin-a"), name).endpoint == http.url("ok-2")


# Secure by default, and a clear start-up refusal.


def test_without_an_egress_file_no_endpoint_and_no_secret_is_allowed(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = ServerProcess.start(
        new_database(),
        tmp_path_factory.mktemp("e2e-no-egress"),
        name="no-egress",
        extra_env={"AVAL_AI_EGRESS_FILE": ""},
    )
    try:
        with Client(server.address, token_of("admin-a"), language="en") as admin:
            for kind, endpoint, key in [
                ("openai", "http://127.0.0.1:11434/v1", ""),
                ("advisor", "127.0.0.1:50061", ""),
                ("openai", "https://albert.api.etalab.gouv.fr/v1", "ALBERT_API_KEY"),
            ]:
                error = refused(
                    InvalidArgumentError,
                    lambda kind=kind, endpoint=endpoint, key=key: admin.register_ai_system(
                        a_name(),
                        kind=kind,
                        endpoint=endpoint,
                        model="m",
                        api_key_env=key,
                        reason="essai",
                    ),
                )
                fields = {v.field for v in error.violations}
                assert fields == {"ai_system.endpoint"} | (
                    {"ai_system.api_key_env"} if key else set()
                )
                assert all("AVAL_AI_EGRESS_FILE" in v.text for v in error.violations)
            assert admin.list_ai_systems().ai_systems == []
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("tenants:\n  ville-z:\n    endpoints: []\n", ":2: tenants.ville-z"),
        (
            "tenants:\n  '*':\n    secrets:\n      k: AVAL_TEST_X\n",
            ":3: tenants.*.secrets",
        ),
        (
            "tenants:\n  ville-a:\n    secrets:\n      db: AVAL_DATABASE_URL\n",
            ":4: tenants.ville-a.secrets.db",
        ),
    ],
)
def test_a_mistake_in_the_egress_file_stops_the_start_with_the_line_and_the_fix(
    new_database: Callable[..., str], tmp_path: Path, text: str, where: str
) -> None:
    egress = tmp_path / "ai-egress.yaml"
    egress.write_text(text, encoding="utf-8")
    folder = tmp_path / "config"
    policy_dir, principals = write_config(folder)
    env = {
        **os.environ,
        "AVAL_DATABASE_URL": new_database(),
        "AVAL_POLICY_DIR": str(policy_dir),
        "AVAL_PRINCIPALS_FILE": str(principals),
        "AVAL_DATA_DIR": str(tmp_path / "data"),
        "AVAL_AI_EGRESS_FILE": str(egress),
    }
    done = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{egress}{where}" in done.stderr, done.stderr
    assert "fix:" in done.stderr
