"""Four-eyes pins (R18), shadow versions, the kill switch (R9) with its trail (I2), and who may
administer (I5), against the real server process."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from aval.v1 import admin_pb2

from ..conftest import ClientOf
from ..helpers import all_events
from .helpers import a_name, add_versions, admin_events, refused, registered, trail_is_clean

pytestmark = pytest.mark.e2e


def test_a_pin_changes_only_with_the_approval_of_another_administrator_R18(
    client_of: ClientOf,
) -> None:
    a, a2 = client_of("admin-a"), client_of("admin-a2")
    name = a_name()
    created = a.register_ai_system(
        name, kind="advisor", endpoint="127.0.0.1:50061", reason="mise en service"
    )
    assert created.created and created.ai_system.pinned_version == ""
    again = a.register_ai_system(
        name, kind="advisor", endpoint="127.0.0.1:50061", reason="mise en service"
    )
    assert not again.created
    moved = a.register_ai_system(
        name, kind="advisor", endpoint="10.0.0.7:50061", reason="nouveau serveur"
    )
    assert not moved.created and moved.ai_system.endpoint == "10.0.0.7:50061"
    add_versions(a, name, "1.0", "1.1")

    first = a.request_pin(name, "1.0", reason="mise en service")
    assert first.state == admin_pb2.PIN_REQUEST_STATE_PENDING and first.previous_version == ""
    own = refused(PermissionDeniedError, lambda: a.decide_pin(first.id, approve=True, reason="ok"))
    assert own.reason == "PIN_REQUESTER_CANNOT_DECIDE" and "admin-a" in own.message
    approved = a2.decide_pin(first.id, approve=True, reason="relu")
    assert approved.pin_request.state == admin_pb2.PIN_REQUEST_STATE_APPROVED
    assert (approved.pin_request.decided_by, approved.ai_system.pinned_version) == (
        "admin-a2",
        "1.0",
    )
    closed = refused(
        FailedPreconditionError, lambda: a2.decide_pin(first.id, approve=False, reason="non")
    )
    assert closed.reason == "PIN_REQUEST_CLOSED"

    # Two pending requests: approving one supersedes the other; a refusal changes nothing.
    by_a = a.request_pin(name, "1.1", reason="meilleure exactitude")
    by_a2 = a2.request_pin(name, "1.1", reason="même chose")
    assert by_a.previous_version == "1.0"
    a.decide_pin(by_a2.id, approve=True, reason="d'accord")
    back = a2.request_pin(name, "1.0", reason="retour arrière")
    refusal = a.decide_pin(back.id, approve=False, reason="pas de raison")
    assert refusal.pin_request.state == admin_pb2.PIN_REQUEST_STATE_REFUSED
    assert refusal.ai_system.pinned_version == "1.1"
    states = {p.id: p.state for p in a.list_pin_requests().pin_requests if p.ai_system == name}
    assert states == {
        first.id: admin_pb2.PIN_REQUEST_STATE_APPROVED,
        by_a.id: admin_pb2.PIN_REQUEST_STATE_SUPERSEDED,
        by_a2.id: admin_pb2.PIN_REQUEST_STATE_APPROVED,
        back.id: admin_pb2.PIN_REQUEST_STATE_REFUSED,
    }
    assert refused(
        FailedPreconditionError, lambda: a.request_pin(name, "1.1", reason="déjà")
    ).reason == ("ALREADY_PINNED")

    (system,) = [s for s in a.list_ai_systems().ai_systems if s.name == name]
    assert [v.version for v in system.versions] == ["1.0", "1.1"]
    assert list(system.versions[0].instructions.known_limits) == ["ne lit pas les photos"]
    assert dict(system.versions[0].instructions.metrics) == {"accuracy": 0.9}
    # Every change is in the trail, by whom and why (I2).
    registrations = admin_events(client_of, "admin.ai_system_registered", name)
    assert [(e["created"], e["changed"]) for e in registrations] == [
        (True, registrations[0]["changed"]),
        (False, ["endpoint"]),
    ]
    assert len(admin_events(client_of, "admin.model_version_registered", name)) == 2
    requested = admin_events(client_of, "admin.pin_requested", name)
    assert [(e["actor"], e["version"]) for e in requested] == [
        ("admin-a", "1.0"),
        ("admin-a", "1.1"),
        ("admin-a2", "1.1"),
        ("admin-a2", "1.0"),
    ]
    approvals = admin_events(client_of, "admin.pin_approved", name)
    assert [(e["actor"], e["version"], e.get("previous_version")) for e in approvals] == [
        ("admin-a2", "1.0", None),
        ("admin-a", "1.1", "1.0"),
    ]
    assert approvals[1]["superseded"] == [by_a.id]
    refusals = admin_events(client_of, "admin.pin_refused", name)
    assert [(e["actor"], e["reason"]) for e in refusals] == [("admin-a", "pas de raison")]
    trail_is_clean(client_of)


def test_shadow_runs_a_registered_version_other_than_the_pinned_one(
    client_of: ClientOf,
) -> None:
    a, a2 = client_of("admin-a"), client_of("admin-a2")
    name = a_name()
    registered(a, name, "1.0", "2.0")
    a2.decide_pin(a.request_pin(name, "1.0", reason="r").id, approve=True, reason="ok")

    assert a.set_shadow(name, "2.0", reason="essai").shadow_version == "2.0"
    assert a.set_shadow(name, "2.0", reason="encore").shadow_version == "2.0"  # no change
    pinned = refused(FailedPreconditionError, lambda: a.set_shadow(name, "1.0", reason="r"))
    assert pinned.reason == "SHADOW_IS_PINNED"
    unknown = refused(FailedPreconditionError, lambda: a.set_shadow(name, "9.9", reason="r"))
    assert unknown.reason == "MODEL_VERSION_NOT_REGISTERED" and "versions add" in unknown.message
    assert a.set_shadow(name, None, reason="fin de l'essai").shadow_version == ""
    # Promoting the shadow's version stops the shadow: a version never shadows itself.
    a.set_shadow(name, "2.0", reason="nouvel essai")
    promoted = a2.decide_pin(a.request_pin(name, "2.0", reason="r").id, approve=True, reason="ok")
    assert (promoted.ai_system.pinned_version, promoted.ai_system.shadow_version) == ("2.0", "")

    events = admin_events(client_of, "admin.shadow_set", name)
    assert [(e.get("version"), e.get("previous_version"), e["reason"]) for e in events] == [
        ("2.0", None, "essai"),
        (None, "2.0", "fin de l'essai"),
        ("2.0", None, "nouvel essai"),
    ]
    assert admin_events(client_of, "admin.pin_approved", name)[-1]["shadow_stopped"] is True
    trail_is_clean(client_of)


@pytest.mark.parametrize("scope", ["tenant", "decision_type", "ai_system"])
def test_the_kill_switch_stops_and_resumes_each_scope_in_the_trail_R9_I2(
    client_of: ClientOf, scope: str
) -> None:
    a, a2 = client_of("admin-a"), client_of("admin-a2")
    name = a_name()
    registered(a, name)
    target = {"tenant": "", "decision_type": "voirie.signalement", "ai_system": name}[scope]
    reason = f"incident {uuid.uuid4().hex[:6]}"
    try:
        first = a.stop_ai(scope, target, reason=reason)  # type: ignore[arg-type]
        assert first.created and (first.stop.stopped_by, first.stop.reason) == ("admin-a", reason)
        again = a2.stop_ai(scope, target, reason="second")  # type: ignore[arg-type]
        assert not again.created and again.stop == first.stop  # the first stop is kept
        assert first.stop in a2.list_stops().stops
    finally:
        resumed = a2.resume_ai(scope, target, reason="rétabli")  # type: ignore[arg-type]
    assert resumed is True
    assert a2.resume_ai(scope, target, reason="rétabli") is False  # type: ignore[arg-type]
    assert first.stop not in a.list_stops().stops

    def mine(kind: str) -> list[dict[str, Any]]:
        events = all_events(client_of("insp-a"), kind=kind)
        found = [json_format.MessageToDict(e.data) | {"actor": e.actor_id} for e in events]
        return [e for e in found if e["reason"] == reason or e.get("stop_reason") == reason]

    wire_scope = scope.upper()
    assert mine("admin.ai_stopped") == [
        {"scope": wire_scope, "target": target, "reason": reason, "actor": "admin-a"}
    ]
    (lifted,) = mine("admin.ai_resumed")
    assert (lifted["scope"], lifted["target"], lifted["actor"], lifted["stopped_by"]) == (
        wire_scope,
        target,
        "admin-a2",
        "admin-a",
    )
    trail_is_clean(client_of)


def test_only_the_tenants_administrators_may_administer_I5(client_of: ClientOf) -> None:
    name = a_name()
    registered(client_of("admin-a"), name, "1.0")

    def register(who: str, **kwargs: Any) -> Any:
        return client_of(who).register_ai_system(
            name, kind="advisor", endpoint="127.0.0.1:1", reason="r", **kwargs
        )

    for who in ("sup-a1", "app-a", "insp-a"):
        assert refused(PermissionDeniedError, lambda who=who: register(who)).reason == "NOT_GRANTED"
    refused(PermissionDeniedError, lambda: register("admin-b", tenant="ville-a"))
    refused(PermissionDeniedError, lambda: client_of("admin-b").list_ai_systems(tenant="ville-a"))
    refused(
        PermissionDeniedError,
        lambda: client_of("admin-b").stop_ai("tenant", reason="r", tenant="ville-a"),
    )
    refused(PermissionDeniedError, lambda: client_of("sup-a1").request_pin(name, "1.0", reason="r"))
    refused(PermissionDeniedError, lambda: client_of("insp-a").list_ai_systems())
    refused(PermissionDeniedError, lambda: client_of("app-a").evaluate(name))
    refused(PermissionDeniedError, lambda: client_of("insp-b").get_usage(tenant="ville-a"))
    # Inspectors read evaluation and usage; ville-b's administrator sees nothing of ville-a's.
    assert client_of("insp-a").evaluate(name).versions == []
    client_of("insp-a").get_usage()
    assert name not in [s.name for s in client_of("admin-b").list_ai_systems().ai_systems]
    refused(NotFoundError, lambda: client_of("admin-b").evaluate(name))
    with Client(client_of("admin-a").address, None) as anonymous:
        refused(UnauthenticatedError, lambda: anonymous.list_ai_systems())
