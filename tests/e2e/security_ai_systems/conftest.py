"""The one guarded server of these tests, its recording HTTP and Advisor endpoints, and their
helpers."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from aval.v1 import advisor_pb2, advisor_pb2_grpc
from tests.support import POLICIES, ServerProcess, token_of, write_egress

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


@pytest.fixture(scope="package")
def http() -> Iterator[Recorder]:
    """The AI backends the operator allowed (by network and port)."""
    server = Recorder()
    yield from (server for _ in _serve(server))


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
def guarded_db(new_database: Callable[..., str]) -> str:
    return new_database()


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
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


BASE: dict[str, Any] = {"kind": "openai", "model": "m1", "api_key_env": "albert-a"}
