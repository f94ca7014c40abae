"""Identity through the real server: unambiguous principals, tenants nobody can enumerate, and
idempotency keys that belong to the caller who chose them (issue 10, items 2, 13 and 15; I4, I5).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from aval.clients import Client
from aval.clients.sdk.errors import AlreadyExistsError
from aval.service.identity import token_hash
from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, review_pb2
from tests.support import (
    ServerProcess,
    principal_entries,
    token_of,
    unpacked_details,
    write_config,
)

from .conftest import ClientOf
from .helpers import all_events, propose_kwargs

# The services the gateway serves (the Advisor is a service Aval calls, not one it serves).
SERVED = [
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    review_pb2.DESCRIPTOR.services_by_name["Review"],
    audit_pb2.DESCRIPTOR.services_by_name["Audit"],
    admin_pb2.DESCRIPTOR.services_by_name["Admin"],
]

# Each RPC's request, valid in every field but the tenant, so that only the tenant can refuse it.
_SOME_ID = str(uuid.uuid4())
VALID_REQUESTS: dict[str, dict[str, Any]] = {
    "Propose": {
        "decision_type": "voirie.signalement",
        "subject_ref": "usager:1",
        "input": {"motif": "nid de poule"},
        "idempotency_key": "cle-enumeration",
    },
    "GetDecision": {"decision_id": _SOME_ID},
    "WatchDecision": {"decision_id": _SOME_ID},
    "ListQueue": {},
    "Claim": {"decision_id": _SOME_ID},
    "Decide": {"decision_id": _SOME_ID, "verdict": "VERDICT_APPROVE"},
    "QueryEvents": {},
    "ExportEvents": {"query": {}},
    "ExplainDecision": {"decision_id": _SOME_ID},
    "VerifyChain": {},
    "VerifyTrail": {},
    "CreateCheckpoint": {},
    "ListCheckpoints": {},
    "ProveInclusion": {"seq": 1},
    "ProveConsistency": {"old_size": 1},
    "GetStats": {},
    "RegisterAISystem": {
        "ai_system": {
            "name": "ia-enumeration",
            "kind": "BACKEND_KIND_OPENAI_COMPATIBLE",
            "endpoint": "http://127.0.0.1:9/v1",
            "model": "modele",
        },
        "reason": "essai",
    },
    "ListAISystems": {},
    "RegisterModelVersion": {
        "ai_system": "ia-enumeration",
        "version": "v1",
        "instructions": {"intended_purpose": "essai"},
    },
    "RequestPin": {"ai_system": "ia-enumeration", "version": "v1", "reason": "essai"},
    "DecidePin": {"pin_request_id": _SOME_ID, "reason": "essai"},
    "ListPinRequests": {},
    "SetShadow": {"ai_system": "ia-enumeration", "reason": "essai"},
    "Stop": {"scope": "STOP_SCOPE_TENANT", "reason": "essai"},
    "Resume": {"scope": "STOP_SCOPE_TENANT", "reason": "essai"},
    "ListStops": {},
    "Evaluate": {"ai_system": "ia-enumeration"},
    "GetUsage": {},
}

# The action each RPC needs (policies/grants.csv); a principal may call it where it holds it.
ACTION_OF = {
    "Propose": "decision.propose",
    "GetDecision": "decision.read",
    "WatchDecision": "decision.read",
    "ListQueue": "queue.list",
    "Claim": "decision.claim",
    "Decide": "decision.decide",
    "QueryEvents": "audit.query",
    "ExportEvents": "audit.query",
    "GetStats": "audit.query",
    "ExplainDecision": "audit.explain",
    "VerifyChain": "audit.verify",
    "VerifyTrail": "audit.verify",
    "ListCheckpoints": "audit.verify",
    "ProveInclusion": "audit.verify",
    "ProveConsistency": "audit.verify",
    "CreateCheckpoint": "audit.checkpoint",
    "ListAISystems": "admin.read",
    "ListPinRequests": "admin.read",
    "ListStops": "admin.read",
    "RegisterAISystem": "admin.write",
    "RegisterModelVersion": "admin.write",
    "RequestPin": "admin.write",
    "DecidePin": "admin.write",
    "SetShadow": "admin.write",
    "Stop": "admin.write",
    "Resume": "admin.write",
    "Evaluate": "admin.usage",
    "GetUsage": "admin.usage",
}

GRANTS = {
    "application": {"decision.propose", "decision.read"},
    "supervisor": {"decision.read", "queue.list", "decision.claim", "decision.decide"},
    "inspector": {
        "decision.read",
        "audit.query",
        "audit.explain",
        "audit.verify",
        "audit.checkpoint",
        "admin.usage",
    },
    "admin": {"admin.read", "admin.write", "admin.usage"},
}


def _tenant_paths(descriptor: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every field of a request that names tenants: `tenant`, `tenants`, also nested."""
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name.startswith("aval."):
            if not f.is_repeated and len(prefix) < 2:
                yield from _tenant_paths(f.message_type, (*prefix, f.name))
        elif f.name in ("tenant", "tenants") and f.type == FieldDescriptor.TYPE_STRING:
            yield (*prefix, f.name)


def _methods() -> list[MethodDescriptor]:
    return [m for service in SERVED for m in service.methods]


@dataclass(frozen=True)
class Refusal:
    """What a caller sees of a refusal, with the tenant it named replaced by `<tenant>`."""

    code: grpc.StatusCode
    reason: str
    status: str

    @classmethod
    def of(cls, err: grpc.RpcError, tenant: str) -> Refusal:
        status = status_pb2.Status()
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status.ParseFromString(value)
        reason = ""
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
        # Every detail, unpacked, so that nothing in any of them may differ.
        text = [err.details() or "", str(status.code), status.message]
        text += [f"{type(m).__name__}: {m}" for m in unpacked_details(status)]
        return cls(err.code(), reason, "\n".join(text).replace(tenant, "<tenant>"))


class Caller:
    """Any RPC of the gateway, sent raw (every field the test wants) as a given principal."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)

    def call(self, method: MethodDescriptor, fields: dict[str, Any], principal: str) -> Any:
        request_class = message_factory.GetMessageClass(method.input_type)
        reply_class = message_factory.GetMessageClass(method.output_type)
        request = request_class()
        _fill(request, fields)
        path = f"/{method.containing_service.full_name}/{method.name}"
        metadata = (("authorization", f"Bearer {token_of(principal)}"),)
        if method.server_streaming:
            stream = self.channel.unary_stream(
                path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=reply_class.FromString,
            )
            return list(stream(request, metadata=metadata, timeout=20))
        unary = self.channel.unary_unary(
            path,
            request_serializer=request_class.SerializeToString,
            response_deserializer=reply_class.FromString,
        )
        return unary(request, metadata=metadata, timeout=20)

    def refusal(
        self, method: MethodDescriptor, fields: dict[str, Any], principal: str, tenant: str
    ) -> Refusal | None:
        try:
            self.call(method, fields, principal)
        except grpc.RpcError as err:
            return Refusal.of(err, tenant)
        return None

    def close(self) -> None:
        self.channel.close()


def _fill(message: Message, fields: dict[str, Any]) -> None:
    json_format.ParseDict(fields, message)


def _with(fields: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `fields` with `value` at `path`."""
    copy: dict[str, Any] = {**fields}
    node = copy
    for part in path[:-1]:
        node[part] = {**node.get(part, {})}
        node = node[part]
    node[path[-1]] = value
    return copy


@pytest.fixture(scope="module")
def caller(server: ServerProcess) -> Iterator[Caller]:
    c = Caller(server.address)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------
# Item 2: a principal's identity is unambiguous deployment-wide (I5)
# ---------------------------------------------------------------------------------------------


def _principal(pid: str, tenant: str, roles: list[str], token: str | None = None) -> str:
    return (
        f"  - id: {pid}\n"
        f"    tenant: {tenant}\n"
        f"    roles: [{', '.join(roles)}]\n"
        f"    token_sha256: {token_hash(token or 'token-of-' + pid + '-' + tenant)}\n"
    )


# Principals files that name one principal twice, the line (1-based) of the second naming, and
# what the refusal must say.
AMBIGUOUS_FILES = {
    "one id in two tenants": (
        "principals:\n"
        + _principal("app-a", "ville-a", ["application"])
        + _principal("sup-b", "ville-b", ["supervisor"])
        + _principal("app-a", "ville-b", ["application"]),
        10,
        ["'app-a'", "line 2", "unique"],
    ),
    "one id twice in one tenant": (
        "principals:\n"
        + _principal("sup-a", "ville-a", ["supervisor"])
        + _principal("sup-a", "ville-a", ["inspector"]),
        6,
        ["'sup-a'", "line 2", "unique"],
    ),
    "ids that differ only by case": (
        "principals:\n"
        + _principal("insp-a", "ville-a", ["inspector"])
        + _principal("INSP-A", "ville-b", ["inspector"]),
        6,
        ["'INSP-A'", "'insp-a'", "line 2"],
    ),
    "one token for two principals": (
        "principals:\n"
        + _principal("app-a", "ville-a", ["application"], token="shared")
        + _principal("app-b", "ville-b", ["application"], token="shared"),
        9,
        ["token_sha256", "line 5", "'app-a'"],
    ),
    "a key given twice in one principal": (
        "principals:\n"
        "  - id: app-a\n"
        "    tenant: ville-a\n"
        "    roles: [application]\n"
        "    tenant: ville-b\n"
        f"    token_sha256: {token_hash('t')}\n",
        5,
        ["tenant", "line 3"],
    ),
    "the server's own actor id": (
        "principals:\n" + _principal("aval", "ville-a", ["application"]),
        2,
        ["'aval'", "reserved"],
    ),
}


@pytest.mark.parametrize("case", sorted(AMBIGUOUS_FILES))
def test_an_ambiguous_principals_file_stops_the_server_naming_file_line_and_fix_I5(
    case: str, tmp_path: Path
) -> None:
    """Before anything else: the database named here does not even exist."""
    text, line, says = AMBIGUOUS_FILES[case]
    policy_dir, _ = write_config(tmp_path)
    principals = tmp_path / "ambiguous.yaml"
    principals.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "AVAL_DATABASE_URL": "postgresql://aval@127.0.0.1:1/nowhere",
        "AVAL_POLICY_DIR": str(policy_dir),
        "AVAL_PRINCIPALS_FILE": str(principals),
        "AVAL_DATA_DIR": str(tmp_path / "data"),
        "OTEL_TRACES_EXPORTER": "none",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it serves: the refusal this test wants did not happen
        process.kill()
        stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert done.returncode != 0, done.stdout
    assert "AVAL_ADDRESS" not in done.stdout
    assert f"{principals}:{line}:" in done.stderr, done.stderr
    assert "fix:" in done.stderr, done.stderr
    for words in says:
        assert words in done.stderr, (words, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr


# Principals whose ids are the names of roles, each holding another role (only in ville-a), and
# one granted in a tenant that has no policies: a second server, on its own database.
ROLE_NAMED = {
    "application": ("ville-a", ["inspector"]),
    "supervisor": ("ville-a", ["application"]),
    "inspector": ("ville-a", ["admin"]),
    "admin": ("ville-a", ["supervisor"]),
}
GHOST_TENANT = "ville-fantome"


@pytest.fixture(scope="module")
def odd_server(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("identity-server")
    entries = principal_entries()
    entries += [
        {"id": pid, "tenant": tenant, "roles": roles, "token_sha256": token_hash(token_of(pid))}
        for pid, (tenant, roles) in ROLE_NAMED.items()
    ]
    entries.append(
        {
            "id": "insp-fantome",
            "tenant": "ville-a",
            "roles": ["inspector"],
            "grants": [{"tenant": GHOST_TENANT, "roles": ["inspector"]}],
            "token_sha256": token_hash(token_of("insp-fantome")),
        }
    )
    principals = folder / "odd-principals.yaml"
    principals.write_text(yaml.safe_dump({"principals": entries}), encoding="utf-8")
    process = ServerProcess.start(
        new_database(),
        folder,
        name="identity",
        extra_env={"AVAL_PRINCIPALS_FILE": str(principals)},
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.mark.parametrize("pid", sorted(ROLE_NAMED))
def test_a_principal_named_like_a_role_holds_only_its_own_grants_I5(
    pid: str, odd_server: ServerProcess
) -> None:
    """Grants are keyed by the principal's identity, which no role name can equal."""
    home, roles = ROLE_NAMED[pid]
    granted = set().union(*(GRANTS[r] for r in roles))
    caller = Caller(odd_server.address)
    try:
        wrong = []
        for method in _methods():
            action = ACTION_OF[method.name]
            for path in _tenant_paths(method.input_type):
                for tenant in ("ville-a", "ville-b"):
                    value: Any = [tenant] if path[-1] == "tenants" else tenant
                    fields = _with(VALID_REQUESTS[method.name], path, value)
                    refusal = caller.refusal(method, fields, pid, tenant)
                    denied = refusal is not None and refusal.reason == "NOT_GRANTED"
                    if denied == (tenant == home and action in granted):
                        wrong.append((method.name, path, tenant, refusal))
        assert not wrong, wrong
    finally:
        caller.close()


# ---------------------------------------------------------------------------------------------
# Item 13: an unknown tenant and a forbidden one are refused alike (no enumeration, I5)
# ---------------------------------------------------------------------------------------------

CALLERS = {  # principal -> an existing tenant where it holds no grant at all
    "app-a": "ville-b",
    "sup-a1": "ville-b",
    "insp-a": "ville-b",
    "admin-a": "ville-b",
    "app-b": "ville-a",
    "sup-b": "ville-a",
    "insp-b": "ville-a",
    "admin-b": "ville-a",
}
UNKNOWN_TENANTS = ("ville-zz", "ville-c", "VILLE-B")


def test_every_rpc_that_names_a_tenant_has_a_valid_request_in_this_test() -> None:
    named = {m.name for m in _methods() if list(_tenant_paths(m.input_type))}
    assert named == set(VALID_REQUESTS), named ^ set(VALID_REQUESTS)
    assert named == set(ACTION_OF)


@pytest.mark.parametrize("principal", sorted(CALLERS))
def test_unknown_and_forbidden_tenants_are_refused_alike_in_every_rpc_I5(
    principal: str, caller: Caller
) -> None:
    forbidden = CALLERS[principal]
    checked, wrong = 0, []
    for method in _methods():
        for path in _tenant_paths(method.input_type):
            shapes: list[Callable[[str], Any]] = [lambda t: t]
            if path[-1] == "tenants":
                shapes = [lambda t: [t], lambda t: [t, t]]
            for shape in shapes:
                base = VALID_REQUESTS[method.name]
                seen = caller.refusal(
                    method, _with(base, path, shape(forbidden)), principal, forbidden
                )
                if seen is None or seen.code != grpc.StatusCode.PERMISSION_DENIED:
                    wrong.append(("forbidden tenant not denied", method.name, path, seen))
                    continue
                assert seen.reason == "NOT_GRANTED"
                for unknown in UNKNOWN_TENANTS:
                    fields = _with(base, path, shape(unknown))
                    other = caller.refusal(method, fields, principal, unknown)
                    checked += 1
                    if other != seen:
                        wrong.append((method.name, path, unknown, seen, other))
    assert not wrong, wrong
    assert checked >= 3 * len(VALID_REQUESTS)


def test_a_list_of_tenants_is_refused_alike_after_granted_ones_I5(caller: Caller) -> None:
    """insp-a may query ville-a: adding a forbidden or an unknown tenant is refused alike."""
    for method in _methods():
        for path in _tenant_paths(method.input_type):
            if path[-1] != "tenants":
                continue
            base = VALID_REQUESTS[method.name]
            seen = caller.refusal(
                method, _with(base, path, ["ville-a", "ville-b"]), "insp-a", "ville-b"
            )
            assert seen is not None and seen.reason == "NOT_GRANTED", (method.name, seen)
            for unknown in UNKNOWN_TENANTS:
                fields = _with(base, path, ["ville-a", unknown])
                assert caller.refusal(method, fields, "insp-a", unknown) == seen, method.name


def test_a_caller_granted_in_a_tenant_is_told_when_it_has_no_policies(
    odd_server: ServerProcess,
) -> None:
    """Only a caller the operator granted there learns that a tenant is unknown."""
    caller = Caller(odd_server.address)
    try:
        query = audit_pb2.DESCRIPTOR.services_by_name["Audit"].methods_by_name["QueryEvents"]
        for fields, where in (
            ({"tenant": GHOST_TENANT}, "tenant"),
            ({"tenants": [GHOST_TENANT]}, "tenants[0]"),
        ):
            refusal = caller.refusal(query, fields, "insp-fantome", GHOST_TENANT)
            assert refusal is not None
            assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, refusal
            assert "UNKNOWN_TENANT" in refusal.status and where in refusal.status, refusal
        # A pooled inspector asking for a tenant it was not granted is told it is not granted.
        refusal = caller.refusal(
            query, {"tenants": ["ville-a", "ville-zz"]}, "insp-pool", "ville-zz"
        )
        assert refusal is not None and refusal.reason == "NOT_GRANTED"
        assert "insp-pool" in refusal.status and "audit.query" in refusal.status
    finally:
        caller.close()


# ---------------------------------------------------------------------------------------------
# Item 15: idempotency keys belong to (tenant, proposer, key) (I4, I5)
# ---------------------------------------------------------------------------------------------


def test_another_caller_reusing_a_key_gets_its_own_decision_I4(client_of: ClientOf) -> None:
    app, other = client_of("app-a"), client_of("appsup-a")
    key = f"cle-{uuid.uuid4()}"
    mine = propose_kwargs(idempotency_key=key)
    theirs = propose_kwargs(idempotency_key=key)  # another subject: another body
    first = app.propose(**mine)
    assert not first.replayed
    second = other.propose(**theirs)  # no error: the key being taken by app-a is not revealed
    assert not second.replayed
    assert second.decision.id != first.decision.id
    assert second.decision.proposer_id == "appsup-a"
    assert second.decision.subject_ref == theirs["subject_ref"]
    # Each replay answers with the caller's own decision, never the other's.
    assert app.propose(**mine).decision.id == first.decision.id
    assert other.propose(**theirs).decision.id == second.decision.id
    # A caller reusing its own key with another body is refused: each key is its caller's own.
    with pytest.raises(AlreadyExistsError):
        app.propose(**theirs)
    with pytest.raises(AlreadyExistsError):
        other.propose(**mine)


def test_the_same_key_in_another_tenant_is_independent_I4(client_of: ClientOf) -> None:
    key = f"cle-{uuid.uuid4()}"
    a = client_of("app-a").propose(**propose_kwargs("voirie.signalement", idempotency_key=key))
    b = client_of("app-b").propose(**propose_kwargs("voirie.signalement", idempotency_key=key))
    assert a.decision.id != b.decision.id and not b.replayed


def test_concurrent_proposals_with_one_key_by_two_callers_stay_apart_I4(
    client_of: ClientOf, server: ServerProcess
) -> None:
    started = datetime.now(UTC)
    key = f"cle-{uuid.uuid4()}"
    bodies = {
        pid: propose_kwargs("voirie.signalement", idempotency_key=key)
        for pid in ("app-a", "appsup-a")
    }
    clients = {pid: Client(server.address, token_of(pid), timeout=30) for pid in bodies}
    results: dict[str, list[Any]] = {pid: [] for pid in bodies}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def run(pid: str) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[pid].append(clients[pid].propose(**bodies[pid]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(pid,)) for pid in bodies for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients.values():
        c.close()
    assert not errors, errors
    ids = {pid: {r.decision.id for r in replies} for pid, replies in results.items()}
    assert all(len(found) == 1 for found in ids.values()), ids
    assert ids["app-a"] != ids["appsup-a"]
    for pid, replies in results.items():
        assert {r.decision.proposer_id for r in replies} == {pid}
        assert {r.decision.subject_ref for r in replies} == {bodies[pid]["subject_ref"]}
        assert sum(not r.replayed for r in replies) == 1
    # One decision.proposed event each, by its own proposer: never a duplicate.
    proposed = [
        e
        for e in all_events(client_of("insp-a"), kind="decision.proposed", since=started)
        if e.data["idempotency_key"] == key
    ]
    assert sorted(e.actor_id for e in proposed) == ["app-a", "appsup-a"]


def test_a_replay_through_the_ai_path_answers_only_its_own_proposer_I4(
    client_of: ClientOf,
) -> None:
    """A type whose AI system is consulted looks the key up before asking the AI: per caller too."""
    key = f"cle-{uuid.uuid4()}"
    body = {
        "decision_type": "signalement.llm",
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"texte": "lampadaire en panne"},
        "idempotency_key": key,
    }
    first = client_of("app-a").propose(**body)
    other = client_of("appsup-a").propose(**body)
    assert other.decision.id != first.decision.id and not other.replayed
    assert client_of("app-a").propose(**body).decision.id == first.decision.id
    assert client_of("appsup-a").propose(**body).decision.id == other.decision.id
