"""Changing what a system in service answers needs a second administrator; other changes apply at
once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import NotFoundError, PermissionDeniedError
from aval.v1 import admin_pb2
from tests.support import ServerProcess

from ..helpers import all_events, run_cli
from .conftest import BASE, Recorder, a_name, refused

pytestmark = pytest.mark.e2e


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
