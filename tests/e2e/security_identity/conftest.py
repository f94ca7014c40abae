"""Every served RPC with a valid request naming a tenant, the caller that sends them, and principal
helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from aval.service.identity import token_hash
from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, people_pb2, review_pb2
from tests.support import ServerProcess, principal_entries, token_of, unpacked_details

# The services the gateway serves (the Advisor is a service Aval calls, not one it serves).
SERVED = [
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    review_pb2.DESCRIPTOR.services_by_name["Review"],
    audit_pb2.DESCRIPTOR.services_by_name["Audit"],
    admin_pb2.DESCRIPTOR.services_by_name["Admin"],
    people_pb2.DESCRIPTOR.services_by_name["People"],
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
    "Release": {"decision_id": _SOME_ID},
    "Decide": {"decision_id": _SOME_ID, "verdict": "VERDICT_APPROVE"},
    "GetCase": {"decision_id": _SOME_ID},
    "RecordView": {"decision_id": _SOME_ID, "verdict": "VERDICT_APPROVE"},
    "WatchQueue": {},
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
    "ListWebhookDeliveries": {},
    "SetReviewerQualification": {
        "reviewer_id": "sup-a1",
        "decision_type": "*",
        "trained_on": "2026-01-01",
        "delegated_by": "M. le Maire",
        "valid_from": "2026-01-02",
        "valid_until": "2026-12-31",
        "reason": "essai",
    },
    "RevokeReviewerQualification": {"qualification_id": _SOME_ID, "reason": "essai"},
    "ListReviewerQualifications": {},
    "ReloadConfiguration": {"reason": "essai"},
    "ResolvePeople": {"ids": ["oidc:keycloak:personne"]},
}

# The action each RPC needs (policies/grants.csv); a principal may call it where it holds it
# (any of them, when several are written "a|b").
ACTION_OF = {
    "Propose": "decision.propose",
    "GetDecision": "decision.read",
    "WatchDecision": "decision.read",
    "ListQueue": "queue.list",
    "Claim": "decision.claim",
    "Release": "decision.claim",
    "Decide": "decision.decide",
    "GetCase": "case.read",
    "RecordView": "decision.decide",
    "WatchQueue": "queue.watch",
    "QueryEvents": "audit.query",
    "ExportEvents": "audit.query",
    "GetStats": "audit.query|stats.team",
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
    "ListWebhookDeliveries": "admin.read",
    "SetReviewerQualification": "admin.write",
    "RevokeReviewerQualification": "admin.write",
    "ListReviewerQualifications": "admin.read",
    "ReloadConfiguration": "admin.write",
    "ResolvePeople": "people.resolve",
}

GRANTS = {
    "application": {"decision.propose", "decision.read"},
    "supervisor": {
        "decision.read",
        "queue.list",
        "queue.watch",
        "case.read",
        "decision.claim",
        "decision.decide",
        "people.resolve",
        "stats.team",
    },
    "inspector": {
        "decision.read",
        "audit.query",
        "audit.explain",
        "audit.verify",
        "audit.checkpoint",
        "admin.usage",
        "people.resolve",
    },
    "admin": {"admin.read", "admin.write", "admin.usage", "people.resolve"},
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


@pytest.fixture(scope="package")
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


# Principals whose ids are the names of roles, each holding another role (only in ville-a), and
# one granted in a tenant that has no policies: a second server, on its own database.
ROLE_NAMED = {
    "application": ("ville-a", ["inspector"]),
    "supervisor": ("ville-a", ["application"]),
    "inspector": ("ville-a", ["admin"]),
    "admin": ("ville-a", ["supervisor"]),
}
GHOST_TENANT = "ville-fantome"


@pytest.fixture(scope="package")
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
