"""The one hostile-input server of these tests (with its clock and extra types) and the helpers
they share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, from_rpc_error
from aval.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.support import POLICIES, ClockFile, ServerProcess, token_of

from ..helpers import metadata_of

LIMIT = 2048
# The default claim lease of this package's server, and the longest one supervisor may hold a
# claim on it, in seconds of its clock. Tests move that clock to end claims and holds; both are
# long, so that real time passing between two calls on a loaded machine ends neither.
LEASE = 60.0
MAX_HOLD = 240.0

# A type whose output schema uses every rule of the schema language, and a free one for the CLI.
EXTRA_TYPES = """
  formulaire.riche:
    purpose: "tester chaque règle du schéma de sortie"
    required_approvals: 1
    deadline: 3d
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete]}
        motif: {type: string, minLength: 3, maxLength: 10}
        urgence: {type: integer, minimum: 1, maximum: 3}
        score: {type: number, minimum: 0, maximum: 1}
        visible: {type: boolean}
        etiquettes: {type: array, items: {type: string, enum: [a, b]}, minItems: 1, maxItems: 2}
      required: [service, urgence]
      additionalProperties: false
  texte.libre:
    purpose: "tester l'affichage de textes hostiles"
    required_approvals: 1
    justification_required_for: [amend, reject]
    deadline: 3d
"""

SERVICES: list[tuple[Any, str, Callable[[grpc.Channel], Any], str]] = [
    (gateway_pb2, "Gateway", gateway_pb2_grpc.GatewayStub, "app-a"),
    (review_pb2, "Review", review_pb2_grpc.ReviewStub, "sup-a1"),
    (audit_pb2, "Audit", audit_pb2_grpc.AuditStub, "insp-a"),
    (admin_pb2, "Admin", admin_pb2_grpc.AdminStub, "admin-a"),
]


@pytest.fixture(scope="package")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-hostile")


@pytest.fixture(scope="package")
def server_clock(hostile_folder: Path) -> ClockFile:
    """The hostile gateway's clock: tests advance it to end claims and holds, never sleep."""
    return ClockFile(hostile_folder)


@pytest.fixture(scope="package")
def hostile(
    database_url: str, hostile_folder: Path, server_clock: ClockFile
) -> Iterator[ServerProcess]:
    """A gateway with a small payload limit, short claims and two more decision types."""
    folder = hostile_folder
    policies = folder / "hostile-policies"
    policies.mkdir()
    (policies / "ville-a.yaml").write_text(POLICIES["ville-a"] + EXTRA_TYPES, encoding="utf-8")
    (policies / "ville-b.yaml").write_text(POLICIES["ville-b"], encoding="utf-8")
    process = ServerProcess.start(
        database_url,
        folder,
        name="hostile",
        extra_env={
            "AVAL_POLICY_DIR": str(policies),
            "AVAL_MAX_PAYLOAD_BYTES": str(LIMIT),
            "AVAL_CLAIM_LEASE_SECONDS": str(LEASE),
            "AVAL_CLAIM_MAX_HOLD_SECONDS": str(MAX_HOLD),
            **server_clock.env,
        },
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="package")
def as_(hostile: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(hostile.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


@pytest.fixture(scope="package")
def channel(hostile: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(hostile.address) as opened:
        yield opened


def call(
    channel: grpc.Channel, service: str, method: str, request: Message, who: str | None
) -> Any:
    """Sends `request` to `service.method` as `who`; a refusal is raised as the SDK's error."""
    module, stub_of = next((m, s) for m, name, s, _ in SERVICES if name == service)
    descriptor = module.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    rpc = getattr(stub_of(channel), method)
    try:
        reply = rpc(request, metadata=metadata_of(who), timeout=20)
        return list(reply) if descriptor.server_streaming else reply
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err


def refused(expected: type[AvalError], attempt: Callable[[], Any]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        attempt()
    assert type(caught.value) is expected, f"{caught.value.code.name}: {caught.value}"
    return caught.value


def written(database_url: str) -> tuple[int, int]:
    """How many trail events (but the expiry sweeper's) and decisions the database holds."""
    with psycopg.connect(database_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM aval.audit_events WHERE kind <> 'decision.expired'"
        ).fetchone()
        decisions = conn.execute("SELECT count(*) FROM aval.decisions").fetchone()
    assert events is not None and decisions is not None
    return events[0], decisions[0]


# --- Item 6: a NUL character in any string field ------------------------------------------------

NUL = "a\x00b"
# How a field path names a key holding a NUL (the NUL itself is never echoed).
NUL_KEY = "a\\u0000b"
Setter = Callable[[Message], None]


def _struct_cases(name: str) -> list[tuple[str, Setter]]:
    def put(value: dict[str, Any]) -> Setter:
        return lambda m: getattr(m, name).update(value)

    return [
        (f"{name}.demande", put({"demande": NUL, "ok": "oui"})),
        (f"{name}.{NUL_KEY}", put({NUL: 1})),
        (f"{name}.x.y[1]", put({"x": {"y": ["ok", NUL]}})),
        (f"{name}.x.{NUL_KEY}", put({"x": {NUL: True}})),
    ]


def nul_cases(descriptor: Descriptor, depth: int = 0) -> list[tuple[str, Setter]]:
    """(wire path, how to put a NUL there) for every string a request of `descriptor` can hold."""
    assert depth < 6, descriptor.full_name  # the contract has no recursive request message
    cases: list[tuple[str, Setter]] = []
    for field in descriptor.fields:
        name, repeated = field.name, field.is_repeated
        if field.type == FieldDescriptor.TYPE_STRING:
            if repeated:
                cases.append((f"{name}[1]", lambda m, n=name: getattr(m, n).extend(["ok", NUL])))
            else:
                cases.append((name, lambda m, n=name: setattr(m, n, NUL)))
        elif field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        elif field.message_type.full_name == "google.protobuf.Struct":
            cases += _struct_cases(name)
        elif field.message_type.GetOptions().map_entry:
            key, value = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            assert key.type == FieldDescriptor.TYPE_STRING, field.full_name
            default = "ok" if value.type == FieldDescriptor.TYPE_STRING else 1
            cases.append(
                (
                    f"{name}.{NUL_KEY}",
                    lambda m, n=name, d=default: getattr(m, n).__setitem__(NUL, d),
                )
            )
            if value.type == FieldDescriptor.TYPE_STRING:
                cases.append((f"{name}.k", lambda m, n=name: getattr(m, n).__setitem__("k", NUL)))
        else:
            for path, setter in nul_cases(field.message_type, depth + 1):
                if repeated:
                    cases.append(
                        (f"{name}[0].{path}", lambda m, n=name, s=setter: s(getattr(m, n).add()))
                    )
                else:
                    cases.append((f"{name}.{path}", lambda m, n=name, s=setter: s(getattr(m, n))))
    return cases


def every_rpc() -> Iterator[tuple[str, str, Descriptor, str]]:
    for module, service, _, principal in SERVICES:
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            yield service, method.name, method.input_type, principal


VALID_RICH = {"service": "voirie", "urgence": 2}
# (kind of rule broken, output, path of the violation inside the output)
SCHEMA_BREACHES: list[tuple[str, dict[str, Any], str]] = [
    ("wrong type: string for integer", {"service": "voirie", "urgence": "2"}, "urgence"),
    ("wrong type: fraction for integer", {"service": "voirie", "urgence": 2.5}, "urgence"),
    ("wrong type: null", {"service": None, "urgence": 2}, "service"),
    ("wrong type: object for string", {"service": {"x": "voirie"}, "urgence": 2}, "service"),
    ("wrong type: number for boolean", {**VALID_RICH, "visible": 1}, "visible"),
    ("wrong type: string for number", {**VALID_RICH, "score": "0.5"}, "score"),
    ("wrong type: string for array", {**VALID_RICH, "etiquettes": "a"}, "etiquettes"),
    ("enum", {"service": "police", "urgence": 2}, "service"),
    ("enum of an item", {**VALID_RICH, "etiquettes": ["a", "z"]}, "etiquettes[1]"),
    ("missing required", {"service": "voirie"}, "urgence"),
    ("additional property", {**VALID_RICH, "autre": 1}, "autre"),
    ("minimum", {"service": "voirie", "urgence": 0}, "urgence"),
    ("maximum", {**VALID_RICH, "score": 1.5}, "score"),
    ("minLength", {**VALID_RICH, "motif": "ab"}, "motif"),
    ("maxLength", {**VALID_RICH, "motif": "x" * 11}, "motif"),
    ("minItems", {**VALID_RICH, "etiquettes": []}, "etiquettes"),
    ("maxItems", {**VALID_RICH, "etiquettes": ["a", "b", "a"]}, "etiquettes"),
]
