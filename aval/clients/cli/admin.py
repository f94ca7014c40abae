"""The ``aval admin …`` commands: AI systems and versions, four-eyes pins, shadow, kill switch,
evaluation and usage."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aval.clients.cli import admin_output as out
from aval.clients.cli import admin_reviewers
from aval.clients.cli.output import format_time
from aval.clients.cli.session import Session
from aval.clients.sdk.admin_calls import StopScopeName
from aval.v1 import admin_pb2

# Refusals of the Admin service that are not about a decision's state (see cli.describe).
REASON_KEYS = dict.fromkeys(
    (
        "MODEL_VERSION_NOT_REGISTERED",
        "ALREADY_PINNED",
        "PIN_REQUEST_CLOSED",
        "SHADOW_IS_PINNED",
        "QUALIFICATION_NOT_IN_FORCE",
        "CONFIGURATION_INVALID",
    ),
    "admin_refused",
)


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _show_system(s: Session, system: admin_pb2.AISystem, key: str) -> int:
    if s.args.json:
        s.show.json(system)
    else:
        _print([s.t(key, name=system.name), *out.system_lines(s.t, system)])
    return 0


def _systems_register(s: Session) -> int:
    a = s.args
    known = {x.name: x for x in s.client.list_ai_systems(tenant=a.tenant).ai_systems}
    # Options left out keep the registered value (or the default for a new system).
    current = known.get(a.name) or admin_pb2.AISystem(enabled=True)
    response = s.client.register_ai_system(
        a.name,
        kind=a.kind,
        endpoint=a.endpoint,
        reason=a.reason,
        model=current.model if a.model is None else a.model,
        api_key_env=current.api_key_env if a.api_key_env is None else a.api_key_env,
        enabled=current.enabled if a.enabled is None else a.enabled,
        timeout_seconds=a.timeout
        if a.timeout is not None
        else (current.timeout.ToNanoseconds() / 1e9 or None),
        max_attempts=current.max_attempts if a.max_attempts is None else a.max_attempts,
        **{
            name: getattr(current, name) if getattr(a, name) is None else getattr(a, name)
            for name in (
                "energy_mwh_per_call",
                "energy_mwh_per_1k_tokens",
                "cost_micro_eur_per_call",
                "cost_micro_eur_per_1k_tokens",
            )
        },
        tenant=a.tenant,
    )
    if s.args.json:
        s.show.json(response)
        return 0
    if response.HasField("pending_change"):
        held = response.pending_change
        fields = ", ".join(c.field for c in held.configuration_changes)
        print(s.t("admin.change_held", id=held.id, fields=fields, name=held.ai_system))
        print(s.t("admin.pin_next", id=held.id))
        return _show_system(s, response.ai_system, "admin.system_now")
    key = "admin.system_created" if response.created else "admin.system_updated"
    return _show_system(s, response.ai_system, key)


def _systems_list(s: Session) -> int:
    response = s.client.list_ai_systems(tenant=s.args.tenant)
    if s.args.json:
        s.show.json(response)
        return 0
    if not response.ai_systems:
        print(s.t("admin.systems_empty"))
    for index, system in enumerate(response.ai_systems):
        _print(([""] if index else []) + out.system_lines(s.t, system))
    return 0


def _versions_add(s: Session) -> int:
    a = s.args
    system = s.client.register_model_version(
        a.system,
        a.version,
        intended_purpose=a.purpose,
        known_limits=a.limit,
        accuracy_note=a.accuracy_note,
        metrics=dict(a.metric),
        tenant=a.tenant,
    )
    if not a.json:
        print(s.t("admin.version_registered", version=a.version, name=a.system))
    return _show_system(s, system, "admin.system_now")


def _pin(s: Session) -> int:
    a = s.args
    pin = s.client.request_pin(a.system, a.version, reason=a.reason, tenant=a.tenant)
    if a.json:
        s.show.json(pin)
        return 0
    previous = pin.previous_version or s.t("admin.none")
    print(s.t("admin.pin_requested", id=pin.id, name=pin.ai_system, version=pin.version))
    print(s.t("admin.pin_previous", previous=previous))
    print(s.t("admin.pin_next", id=pin.id))
    return 0


def _pins(s: Session) -> int:
    a = s.args
    response = s.client.list_pin_requests(pending_only=a.pending, tenant=a.tenant)
    if a.json:
        s.show.json(response)
    else:
        _print(out.pins_lines(s.t, response.pin_requests))
    return 0


def _decide_pin(s: Session, approve: bool) -> int:
    a = s.args
    response = s.client.decide_pin(a.id, approve=approve, reason=a.reason, tenant=a.tenant)
    if a.json:
        s.show.json(response)
        return 0
    pin = response.pin_request
    if pin.configuration_changes:
        fields = ", ".join(c.field for c in pin.configuration_changes)
        key = "admin.change_approved" if approve else "admin.change_refused"
        print(s.t(key, id=pin.id, name=pin.ai_system, fields=fields))
        return 0
    key = "admin.pin_approved" if approve else "admin.pin_refused"
    pinned = response.ai_system.pinned_version or s.t("admin.none")
    print(s.t(key, id=pin.id, name=pin.ai_system, version=pin.version, pinned=pinned))
    return 0


def _shadow(s: Session) -> int:
    a = s.args
    version = None if a.off else a.version
    system = s.client.set_shadow(a.system, version, reason=a.reason, tenant=a.tenant)
    key = "admin.shadow_on" if system.shadow_version else "admin.shadow_off"
    if not a.json:
        print(s.t(key, name=system.name, version=system.shadow_version))
    return _show_system(s, system, "admin.system_now")


def _scope(a: argparse.Namespace) -> tuple[StopScopeName, str, str]:
    """(scope, target, tenant) of the selectors of ``stop`` and ``resume``."""
    if a.stop_tenant is not None:
        return "tenant", "", a.stop_tenant
    if a.stop_type is not None:
        return "decision_type", a.stop_type, ""
    return "ai_system", a.ai_system, ""


def _stop(s: Session) -> int:
    scope, target, tenant = _scope(s.args)
    response = s.client.stop_ai(scope, target, reason=s.args.reason, tenant=tenant)
    if s.args.json:
        s.show.json(response)
        return 0
    stop = response.stop
    what = out.scope_text(s.t, stop.scope, stop.target, stop.tenant)
    if response.created:
        print(s.t("admin.stopped", scope=what))
    else:
        when = format_time(stop.stopped_at)
        print(s.t("admin.already_stopped", scope=what, who=stop.stopped_by, when=when))
        print(s.t("admin.stop_reason", reason=stop.reason))
    return 0


def _resume(s: Session) -> int:
    scope, target, tenant = _scope(s.args)
    resumed = s.client.resume_ai(scope, target, reason=s.args.reason, tenant=tenant)
    if s.args.json:
        print("true" if resumed else "false")
        return 0
    code = admin_pb2.StopScope.Value(f"STOP_SCOPE_{scope.upper()}")
    what = out.scope_text(s.t, code, target, tenant or s.t("admin.your_tenant"))
    print(s.t("admin.resumed" if resumed else "admin.not_stopped", scope=what))
    return 0


def _stops(s: Session) -> int:
    response = s.client.list_stops(tenant=s.args.tenant)
    if s.args.json:
        s.show.json(response)
    else:
        _print(out.stops_lines(s.t, response.stops))
    return 0


def _evaluate(s: Session) -> int:
    a = s.args
    response = s.client.evaluate(a.system, decision_type=a.type, since=a.since, tenant=a.tenant)
    if a.json:
        s.show.json(response)
    else:
        _print(out.evaluation_lines(s.t, a.system, response))
    return 0


def _usage(s: Session) -> int:
    a = s.args
    response = s.client.get_usage(since=a.since, until=a.until, tenant=a.tenant)
    if a.json:
        s.show.json(response)
    else:
        _print(out.usage_lines(s.t, response))
    return 0


def _webhooks(s: Session) -> int:
    a = s.args
    response = s.client.list_webhook_deliveries(status=a.status, limit=a.limit, tenant=a.tenant)
    if a.json:
        s.show.json(response)
    else:
        _print(out.webhook_lines(s.t, response.deliveries))
    return 0


COMMANDS: dict[str, Callable[[Session], int]] = {
    "admin systems register": _systems_register,
    "admin systems list": _systems_list,
    "admin versions add": _versions_add,
    "admin pin": _pin,
    "admin pins": _pins,
    "admin pins approve": lambda s: _decide_pin(s, approve=True),
    "admin pins refuse": lambda s: _decide_pin(s, approve=False),
    "admin shadow": _shadow,
    "admin stop": _stop,
    "admin resume": _resume,
    "admin stops": _stops,
    "admin evaluate": _evaluate,
    "admin usage": _usage,
    "admin webhooks list": _webhooks,
    **admin_reviewers.COMMANDS,
}
