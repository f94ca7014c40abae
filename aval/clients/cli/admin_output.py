"""What ``aval admin …`` prints for a person: AI systems, pin requests, stops, evaluation, usage."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import duration_pb2

from aval import texts
from aval.clients.cli.messages import Messages
from aval.clients.cli.output import format_time
from aval.v1 import admin_pb2

_NOTHING = "—"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns, two spaces apart, the header first."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def decimal(t: Messages, value: float, places: int) -> str:
    """A number with `places` decimals and the language's decimal separator."""
    return texts.number(value, t.language, places=places)


def percent(t: Messages, rate: float) -> str:
    return texts.percent(rate, t.language)


def energy(t: Messages, mwh: int) -> str:
    return f"{decimal(t, mwh / 1000, 3)} Wh"


def cost(t: Messages, micro_eur: int) -> str:
    return f"{decimal(t, micro_eur / 1_000_000, 6)} €"


def latency(t: Messages, value: duration_pb2.Duration) -> str:
    milliseconds = value.ToNanoseconds() / 1_000_000
    if milliseconds < 1000:
        return f"{round(milliseconds)} ms"
    return f"{decimal(t, milliseconds / 1000, 1)} s"


def scope_text(t: Messages, scope: admin_pb2.StopScope.ValueType, target: str, tenant: str) -> str:
    """What a stop covers, in words."""
    name = admin_pb2.StopScope.Name(scope).removeprefix("STOP_SCOPE_").lower()
    return t(f"admin.scope.{name}", target=target, tenant=tenant)


def _kind(t: Messages, system: admin_pb2.AISystem) -> str:
    return t("admin.kind." + admin_pb2.BackendKind.Name(system.kind))


def system_lines(t: Messages, system: admin_pb2.AISystem) -> list[str]:
    """An AI system, one ``label  value`` line per fact, then its versions and their limits."""
    endpoint = system.endpoint + (f" ({system.model})" if system.model else "")
    facts = [
        ("admin.label.system", f"{system.name} — {_kind(t, system)}"),
        ("admin.label.endpoint", endpoint),
        ("admin.label.pinned", system.pinned_version or t("admin.none")),
        ("admin.label.shadow", system.shadow_version or t("admin.none")),
        ("admin.label.enabled", t("admin.yes" if system.enabled else "admin.no")),
        (
            "admin.label.calls",
            t(
                "admin.calls_config",
                timeout=latency(t, system.timeout),
                attempts=system.max_attempts,
            ),
        ),
        (
            "admin.label.energy",
            t(
                "admin.per_call_and_tokens",
                call=energy(t, system.energy_mwh_per_call),
                tokens=energy(t, system.energy_mwh_per_1k_tokens),
            ),
        ),
        (
            "admin.label.cost",
            t(
                "admin.per_call_and_tokens",
                call=cost(t, system.cost_micro_eur_per_call),
                tokens=cost(t, system.cost_micro_eur_per_1k_tokens),
            ),
        ),
    ]
    if system.api_key_env:
        facts.append(("admin.label.api_key_env", system.api_key_env))
    labelled = [(t(key), value) for key, value in facts]
    width = max(len(label) for label, _ in labelled)
    lines = [f"{label.ljust(width)}  {value}" for label, value in labelled]
    if not system.versions:
        lines.append(t("admin.no_versions", name=system.name))
    for version in system.versions:
        lines.append(
            t(
                "admin.version",
                version=version.version,
                who=version.registered_by,
                when=format_time(version.registered_at),
                purpose=version.instructions.intended_purpose,
            )
        )
        if version.instructions.accuracy_note:
            lines.append(f"    {version.instructions.accuracy_note}")
        lines.extend(t("admin.limit", limit=limit) for limit in version.instructions.known_limits)
    return lines


def _pin_state(t: Messages, pin: admin_pb2.PinRequest) -> str:
    return t("admin.pin_state." + admin_pb2.PinRequestState.Name(pin.state))


def _what(t: Messages, p: admin_pb2.PinRequest) -> str:
    """What a request changes: the pinned version, or the configuration's fields."""
    if p.configuration_changes:
        return t("admin.change_column", fields=", ".join(c.field for c in p.configuration_changes))
    return f"{p.previous_version or _NOTHING} → {p.version}"


def pins_lines(t: Messages, pins: Sequence[admin_pb2.PinRequest]) -> list[str]:
    """Pin and configuration change requests as a table, or a sentence when there is none."""
    if not pins:
        return [t("admin.pins_empty")]
    header = [t(f"admin.col.{key}") for key in ("id", "system", "version", "state", "by", "at")]
    rows = [
        [
            p.id,
            p.ai_system,
            _what(t, p),
            _pin_state(t, p),
            p.requested_by + (f" / {p.decided_by}" if p.decided_by else ""),
            format_time(p.requested_at),
        ]
        for p in pins
    ]
    return table(header, rows)


def stops_lines(t: Messages, stops: Sequence[admin_pb2.AIStop]) -> list[str]:
    """The stops in force as a table, or a sentence when there is none."""
    if not stops:
        return [t("admin.stops_empty")]
    header = [t(f"admin.col.{key}") for key in ("scope", "stopped_by", "stopped_at", "reason")]
    rows = [
        [
            scope_text(t, s.scope, s.target, s.tenant),
            s.stopped_by,
            format_time(s.stopped_at),
            s.reason,
        ]
        for s in stops
    ]
    return table(header, rows)


def _role(t: Messages, role: admin_pb2.CallRole.ValueType) -> str:
    return t("admin.role." + admin_pb2.CallRole.Name(role))


def evaluation_lines(t: Messages, name: str, response: admin_pb2.EvaluateResponse) -> list[str]:
    """One row per version and role: calls, agreement, override, latency, tokens, energy, cost."""
    if not response.versions:
        return [t("admin.evaluation_empty", name=name)]
    keys = "version role calls suggestions failed decided agreement override p50 p90 tokens"
    keys += " energy cost"
    rows = [
        [
            v.model_version,
            _role(t, v.role),
            str(v.calls),
            str(v.suggestions),
            f"{v.unavailable}/{v.invalid_outputs}",
            str(v.decided),
            percent(t, v.agreement_rate) if v.decided else _NOTHING,
            percent(t, v.override_rate) if v.decided else _NOTHING,
            latency(t, v.latency_p50),
            latency(t, v.latency_p90),
            f"{v.input_tokens}/{v.output_tokens}",
            energy(t, v.energy_mwh),
            cost(t, v.cost_micro_eur),
        ]
        for v in response.versions
    ]
    header = [t(f"admin.col.{key}") for key in keys.split()]
    return [*table(header, rows), t("admin.evaluation_note")]


def usage_lines(t: Messages, response: admin_pb2.GetUsageResponse) -> list[str]:
    """One row per decision type, AI system, version and role, then the totals."""
    if not response.rows:
        return [t("admin.usage_empty")]
    keys = "type system version role calls failures tokens time energy cost"
    rows = [
        [
            r.decision_type,
            r.ai_system,
            r.model_version,
            _role(t, r.role),
            str(r.calls),
            str(r.failures),
            f"{r.input_tokens}/{r.output_tokens}",
            latency(t, r.total_latency),
            energy(t, r.energy_mwh),
            cost(t, r.cost_micro_eur),
        ]
        for r in response.rows
    ]
    total = t(
        "admin.usage_total",
        calls=sum(r.calls for r in response.rows),
        energy=energy(t, sum(r.energy_mwh for r in response.rows)),
        cost=cost(t, sum(r.cost_micro_eur for r in response.rows)),
    )
    return [*table([t(f"admin.col.{key}") for key in keys.split()], rows), total]


def webhook_lines(t: Messages, deliveries: Sequence[admin_pb2.WebhookDelivery]) -> list[str]:
    """The outcome webhooks as a table (newest first), or a sentence when there is none."""
    if not deliveries:
        return [t("admin.webhooks_empty")]
    keys = ("state", "decision", "application", "attempts", "when", "last_error")
    header = [t(f"admin.col.{key}") for key in keys]
    rows = []
    for d in deliveries:
        status = admin_pb2.WebhookDeliveryStatus.Name(d.status).removeprefix(
            "WEBHOOK_DELIVERY_STATUS_"
        )
        when = {"DELIVERED": d.delivered_at, "DEAD": d.dead_at}.get(status, d.next_attempt_at)
        rows.append(
            [
                t(f"admin.webhook.{status}"),
                d.decision_id,
                d.application_id,
                str(d.attempts),
                format_time(when),
                d.last_error,
            ]
        )
    return table(header, rows)
