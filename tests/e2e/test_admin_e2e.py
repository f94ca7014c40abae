"""The Admin service against the real server process: the registry, four-eyes pins (R18), shadow
versions, the kill switch (R9) with its trail (I2), evaluation and usage, refusals (I5, I6), and
the `aval admin` commands."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from aval.audit_store import Store, decisions
from aval.audit_store.records import (
    AdviceStatus,
    AICall,
    CallRole,
    Decision,
)
from aval.clients import Client
from aval.clients.sdk.errors import (
    AlreadyExistsError,
    AvalError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from aval.policies import ReviewPolicy, load_policy_dir
from aval.service.decisions.proposals import proposed_event
from aval.service.identity import Principal, actor_of
from aval.v1 import admin_pb2, admin_pb2_grpc
from tests.in_process import ai_proposal
from tests.support import write_config

from .conftest import ClientOf
from .helpers import Raw, all_events, fields_of, run_cli

pytestmark = pytest.mark.e2e


def a_name() -> str:
    return f"orienteur-{uuid.uuid4().hex[:8]}"


def add_versions(client: Client, name: str, *versions: str) -> None:
    for version in versions:
        client.register_model_version(
            name,
            version,
            intended_purpose="orienter les signalements",
            known_limits=["ne lit pas les photos"],
            metrics={"accuracy": 0.9},
        )


def registered(client: Client, name: str, *versions: str) -> None:
    client.register_ai_system(
        name, kind="advisor", endpoint="127.0.0.1:50061", reason="mise en service"
    )
    add_versions(client, name, *versions)


def admin_events(client_of: ClientOf, kind: str, name: str) -> list[dict[str, Any]]:
    """The `kind` events of ville-a's trail about the AI system `name`, oldest first."""
    found = []
    for event in all_events(client_of("insp-a"), kind=kind):
        data = json_format.MessageToDict(event.data)
        if data.get("ai_system") == name or data.get("target") == name:
            assert event.decision_id == "" and event.actor_type == "human"
            found.append({"actor": event.actor_id, **data})
    return found


def refused(kind: type[AvalError], call: Callable[[], Any]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        call()
    assert type(caught.value) is kind, f"{caught.value.code.name}: {caught.value}"
    return caught.value


def trail_is_clean(client_of: ClientOf) -> None:
    report = client_of("insp-a").verify_chain()
    assert report.ok, list(report.problems)


@pytest.fixture(scope="module")
def stub(raw: Raw) -> admin_pb2_grpc.AdminStub:
    """The generated Admin stub on the shared gateway, for requests the SDK never builds."""
    return admin_pb2_grpc.AdminStub(raw.channel)


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


VOIRIE, PROPRETE = {"service": "voirie"}, {"service": "propreté"}
# (primary status, output, latency), (shadow output, latency): what the AI answered.
CALLS = [
    (("SUGGESTED", VOIRIE, 100), (VOIRIE, 40)),
    (("SUGGESTED", VOIRIE, 200), (PROPRETE, 60)),
    (("SUGGESTED", VOIRIE, 300), (VOIRIE, 80)),
    (("UNAVAILABLE", None, 1000), ({"service": "éclairage"}, 90)),
]


def ai_call(
    d: Decision, name: str, role: CallRole, version: str, status: str, out: Any, ms: int
) -> AICall:
    made = status != "UNAVAILABLE"
    return AICall(
        id=uuid.uuid4(),
        decision_id=d.id,
        decision_type=d.decision_type,
        ai_system=name,
        model_version=version,
        role=role,
        status=AdviceStatus(status),
        detail="" if made else "timeout",
        started_at=d.created_at,
        latency_ms=ms,
        attempts=1 if made else 2,
        input_tokens=100 if made else None,
        output_tokens=20 if made else None,
        energy_mwh=1500,
        cost_micro_eur=2500,
        output=out,
    )


async def propose_with_calls(url: str, name: str, policy: ReviewPolicy) -> list[str]:
    """Proposals of app-a with the AI calls made for them, written by `record_proposals` (the
    SQL function record_proposals_with_calls) as the gateway does; returns their ids."""
    app = Principal("app-a", "ville-a", {"ville-a": frozenset({"application"})})
    store = Store(url, min_size=1, max_size=1)
    await store.open()
    ids = []
    try:
        for (status, output, latency), (shadow_output, shadow_latency) in CALLS:
            now = datetime.now(UTC)
            d = ai_proposal("ville-a", policy, app, name, "1.0", status, output, now)

            calls = [
                ai_call(d, name, CallRole.PRIMARY, "1.0", status, output, latency),
                ai_call(
                    d, name, CallRole.SHADOW, "2.0", "SUGGESTED", shadow_output, shadow_latency
                ),
            ]
            event = proposed_event(d, actor_of(app)).canonical("ville-a", now, "")
            async with store.single_statement() as conn:
                assert await decisions.record_proposals(conn, [(d, [event], calls)]) == {d.id}
            ids.append(str(d.id))
    finally:
        await store.close()
    return ids


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    (line,) = done.stderr.splitlines()
    return line


def test_evaluate_and_usage_compare_versions_with_the_human_decisions(
    client_of: ClientOf, database_url: str, tmp_path: Path
) -> None:
    a = client_of("admin-a")
    name = a_name()
    registered(a, name, "1.0", "2.0")
    policy = load_policy_dir(write_config(tmp_path)[0]).get("ville-a", "voirie.signalement")
    assert policy is not None
    start = datetime.now(UTC)
    approved, amended, rejected, _pending = asyncio.run(
        propose_with_calls(database_url, name, policy)
    )
    supervisor = client_of("sup-a1")
    supervisor.decide(approved, verdict="approve")
    supervisor.decide(amended, verdict="amend", amended_output=PROPRETE, justification="photo")
    supervisor.decide(rejected, verdict="reject", justification="doublon")

    primary, shadow = a.evaluate(name, since=start, decision_type="voirie.signalement").versions
    assert (primary.model_version, primary.role) == ("1.0", admin_pb2.CALL_ROLE_PRIMARY)
    assert (primary.calls, primary.suggestions, primary.unavailable, primary.decided) == (
        4,
        3,
        1,
        3,
    )
    assert primary.agreed == 1 and round(primary.override_rate, 4) == round(2 / 3, 4)
    assert (primary.latency_p50.ToMilliseconds(), primary.latency_p90.ToMilliseconds()) == (
        250,
        790,
    )
    assert (primary.input_tokens, primary.output_tokens, primary.energy_mwh) == (300, 60, 6000)
    assert (shadow.model_version, shadow.role) == ("2.0", admin_pb2.CALL_ROLE_SHADOW)
    assert (shadow.calls, shadow.suggestions, shadow.decided, shadow.agreed) == (4, 4, 3, 2)
    assert round(shadow.override_rate, 4) == round(1 / 3, 4)  # only the rejected one
    assert client_of("insp-a").evaluate(name).versions == [primary, shadow]
    assert a.evaluate(name, decision_type="aides.attribution").versions == []

    rows = [r for r in client_of("insp-a").get_usage(since=start).rows if r.ai_system == name]
    assert [(r.model_version, r.calls, r.failures, r.cost_micro_eur) for r in rows] == [
        ("1.0", 4, 1, 10_000),
        ("2.0", 4, 0, 10_000),
    ]
    assert rows[0].total_latency.ToMilliseconds() == 1600 and rows[0].tenant == "ville-a"

    address = a.address
    since = start.isoformat()
    text = ok(run_cli(address, "admin-a", "admin", "evaluate", name, "--since", since))
    pinned_row, shadow_row = [line.split() for line in text.splitlines()[1:3]]
    assert pinned_row[:8] == ["1.0", "épinglée", "4", "3", "1/0", "3", "33", "%"]
    assert shadow_row[:8] == ["2.0", "fantôme", "4", "4", "0/0", "3", "67", "%"]
    document = json.loads(
        ok(run_cli(address, "insp-a", "--json", "admin", "usage", "--since", since))
    )
    assert {r["aiSystem"] for r in document["rows"]} >= {name}
    usage = ok(run_cli(address, "insp-a", "--lang", "en", "admin", "usage", "--since", since))
    assert "6.000 Wh" in usage and "0.010000 €" in usage


def test_the_admin_commands_through_the_command_line(client_of: ClientOf) -> None:
    address = client_of("admin-a").address
    name = a_name()

    def aval(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(address, who, "admin", *args)

    out = ok(
        aval(
            "admin-a",
            *("systems", "register", name, "--kind", "openai"),
            *("--endpoint", "http://127.0.0.1:11434/v1", "--model", "mistral-small"),
            *("--api-key-env", "ALBERT_API_KEY", "--timeout", "30s"),
            *("--energy-mwh-per-call", "1500", "--reason", "mise en service"),
        )
    )
    assert f"Système d'IA {name} enregistré." in out and "API compatible OpenAI" in out
    out = ok(
        aval(
            "admin-a",
            *("systems", "register", name, "--kind", "openai"),
            *("--endpoint", "http://127.0.0.1:8000/v1", "--disable", "--reason", "migration"),
        )
    )
    assert f"Système d'IA {name} mis à jour." in out
    (system,) = [s for s in client_of("admin-a").list_ai_systems().ai_systems if s.name == name]
    # The options left out kept their registered values.
    assert (system.endpoint, system.model, system.api_key_env) == (
        "http://127.0.0.1:8000/v1",
        "mistral-small",
        "ALBERT_API_KEY",
    )
    assert (system.enabled, system.timeout.seconds, system.energy_mwh_per_call) == (False, 30, 1500)

    out = ok(
        aval(
            "admin-a",
            *("versions", "add", name, "2026.1", "--purpose", "orienter les signalements"),
            *("--limit", "ne lit pas les photos", "--limit", "français seulement"),
            *("--accuracy-note", "0,91 sur 120 signalements", "--metric", "accuracy=0.91"),
        )
    )
    assert f"Version 2026.1 de {name} enregistrée." in out
    assert "limite : ne lit pas les photos" in out and "limite : français seulement" in out
    missing = refusal(aval("admin-a", "pin", name, "9.9", "--reason", "essai"))
    assert missing.startswith("erreur: refusé : la version '9.9'")
    assert f"aval admin versions add {name} 9.9" in missing

    pin = json.loads(ok(aval("admin-a", "--json", "pin", name, "2026.1", "--reason", "essai")))
    assert pin["id"] in ok(aval("admin-a2", "pins", "--pending"))
    own = refusal(aval("admin-a", "pins", "approve", pin["id"], "--reason", "ok"))
    assert "quatre yeux" in own
    out = ok(aval("admin-a2", "pins", "approve", pin["id"], "--reason", "relu"))
    assert out.strip() == f"Épinglage approuvé : {name} utilise désormais la version 2026.1."

    assert f"IA arrêtée : le système d'IA {name}." in ok(
        aval("admin-a", "stop", "--ai-system", name, "--reason", "dérive constatée")
    )
    assert "dérive constatée" in ok(aval("admin-a2", "stops"))
    assert f"IA rétablie : le système d'IA {name}." in ok(
        aval("admin-a2", "resume", "--ai-system", name, "--reason", "corrigé")
    )
    assert "Rien à rétablir" in ok(aval("admin-a2", "resume", "--ai-system", name, "--reason", "r"))
    assert f"Aucun appel enregistré pour {name}." in ok(aval("admin-a", "evaluate", name))
    english = ok(run_cli(address, "admin-a", "--lang", "en", "admin", "systems", "list"))
    assert re.search(rf"^AI system\s+{name} — OpenAI-compatible API$", english, re.MULTILINE)
    assert re.search(r"^Pinned version\s+2026\.1$", english, re.MULTILINE)
    denied = refusal(aval("sup-a1", "systems", "list"))
    assert denied.startswith("erreur: action non autorisée")
    trail_is_clean(client_of)
