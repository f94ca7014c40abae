"""Bad registrations, versions, pins and stops are refused, each bad field named with its fix
(I6)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aval.clients.sdk.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from aval.v1 import admin_pb2, admin_pb2_grpc

from ..conftest import ClientOf
from ..helpers import Raw, fields_of
from .helpers import a_name, refused, registered

pytestmark = pytest.mark.e2e


def system_request(**changes: Any) -> admin_pb2.RegisterAISystemRequest:
    fields: dict[str, Any] = {
        "name": a_name(),
        "kind": admin_pb2.BACKEND_KIND_OPENAI_COMPATIBLE,
        "endpoint": "http://127.0.0.1:11434/v1",
        "model": "mistral-small",
    }
    reason = changes.pop("reason", "mise en service")
    fields.update(changes)
    return admin_pb2.RegisterAISystemRequest(ai_system=admin_pb2.AISystem(**fields), reason=reason)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"kind": 7}, ["ai_system.kind"]),
        ({"kind": admin_pb2.BACKEND_KIND_UNSPECIFIED}, ["ai_system.kind"]),
        ({"endpoint": "ftp://127.0.0.1/v1"}, ["ai_system.endpoint"]),
        ({"endpoint": "http://user:secret@127.0.0.1/v1"}, ["ai_system.endpoint"]),
        ({"kind": admin_pb2.BACKEND_KIND_ADVISOR, "endpoint": "127.0.0.1"}, ["ai_system.endpoint"]),
        ({"model": ""}, ["ai_system.model"]),
        ({"api_key_env": "sk-live-123"}, ["ai_system.api_key_env"]),
        ({"reason": "  "}, ["reason"]),
        (
            {"name": "Orienteur Voirie", "endpoint": "voirie"},
            ["ai_system.endpoint", "ai_system.name"],
        ),
        ({"pinned_version": "1.0"}, ["ai_system.pinned_version"]),
        (
            {"max_attempts": 9, "energy_mwh_per_call": -1},
            ["ai_system.energy_mwh_per_call", "ai_system.max_attempts"],
        ),
    ],
)
def test_a_bad_registration_names_every_bad_field_I6(
    raw: Raw, stub: admin_pb2_grpc.AdminStub, changes: dict[str, Any], fields: list[str]
) -> None:
    request = system_request(**changes)
    error = refused(
        InvalidArgumentError, lambda: raw.call(stub.RegisterAISystem, request, "admin-a")
    )
    assert fields_of(error) == fields
    assert all(v.text for v in error.violations)  # each says what to do, in French by default


def test_bad_versions_pins_and_stops_are_refused_with_the_fix_I6(
    raw: Raw, stub: admin_pb2_grpc.AdminStub, client_of: ClientOf
) -> None:
    a = client_of("admin-a")
    name = a_name()
    registered(a, name, "1.0")

    def version(**changes: Any) -> Any:
        instructions = admin_pb2.InstructionsForUse(
            intended_purpose="orienter", metrics={"f1": 0.8}
        )
        fields: dict[str, Any] = {"ai_system": name, "version": "2.0", "instructions": instructions}
        fields.update(changes)
        request = admin_pb2.RegisterModelVersionRequest(**fields)
        return raw.call(stub.RegisterModelVersion, request, "admin-a")

    nan = admin_pb2.InstructionsForUse(intended_purpose="p", metrics={"accuracy": float("nan")})
    no_purpose = admin_pb2.InstructionsForUse(known_limits=[""])
    assert fields_of(refused(InvalidArgumentError, lambda: version(instructions=nan))) == [
        "instructions.metrics.accuracy"
    ]
    assert fields_of(refused(InvalidArgumentError, lambda: version(instructions=no_purpose))) == [
        "instructions.intended_purpose",
        "instructions.known_limits.0",
    ]
    assert fields_of(refused(InvalidArgumentError, lambda: version(version="2 0"))) == ["version"]
    unknown = refused(NotFoundError, lambda: version(ai_system=a_name()))
    assert unknown.reason == "AI_SYSTEM_NOT_FOUND" and "systems register" in unknown.message
    version()
    version()  # the same instructions again: nothing changes
    changed = admin_pb2.InstructionsForUse(intended_purpose="autre chose")
    assert refused(AlreadyExistsError, lambda: version(instructions=changed)).reason == (
        "MODEL_VERSION_EXISTS"
    )

    unregistered = refused(FailedPreconditionError, lambda: a.request_pin(name, "3.0", reason="r"))
    assert unregistered.reason == "MODEL_VERSION_NOT_REGISTERED"
    assert f"aval admin versions add {name} 3.0" in unregistered.message
    missing_reason = admin_pb2.RequestPinRequest(ai_system=name, version="1.0")
    assert fields_of(
        refused(InvalidArgumentError, lambda: raw.call(stub.RequestPin, missing_reason, "admin-a"))
    ) == ["reason"]
    bad_id = admin_pb2.DecidePinRequest(pin_request_id="42", approve=True, reason="r")
    assert fields_of(
        refused(InvalidArgumentError, lambda: raw.call(stub.DecidePin, bad_id, "admin-a2"))
    ) == ["pin_request_id"]
    nobody = str(uuid.uuid4())
    refused(NotFoundError, lambda: a.decide_pin(nobody, approve=True, reason="r"))

    def stop(**fields: Any) -> Any:
        return raw.call(stub.Stop, admin_pb2.StopRequest(**fields), "admin-a")

    tenant_scope, type_scope = admin_pb2.STOP_SCOPE_TENANT, admin_pb2.STOP_SCOPE_DECISION_TYPE
    for fields, expected in [
        ({"reason": "r"}, ["scope"]),
        ({"scope": tenant_scope}, ["reason"]),
        ({"scope": tenant_scope, "target": "voirie.signalement", "reason": "r"}, ["target"]),
        ({"scope": type_scope, "reason": "r"}, ["target"]),
        ({"scope": type_scope, "target": "voirie.inconnue", "reason": "r"}, ["target"]),
        ({"scope": admin_pb2.STOP_SCOPE_AI_SYSTEM, "target": a_name(), "reason": "r"}, ["target"]),
    ]:
        assert fields_of(refused(InvalidArgumentError, lambda f=fields: stop(**f))) == expected
    typo = refused(
        InvalidArgumentError, lambda: stop(scope=type_scope, target="voirie", reason="r")
    )
    assert "voirie.signalement" in typo.violations[0].text  # the known types are listed
    assert a.list_stops().stops == []  # nothing was stopped by mistake
