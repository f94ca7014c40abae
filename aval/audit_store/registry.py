"""SQL for the registry of AI systems: systems, model versions, pin requests and the kill switch.

Every function runs on the caller's connection and transaction. Writers call them inside
`Store.transaction()` together with `trail.append_events`, so that a change of the registry
and its audit event commit or roll back together (I2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from aval.audit_store import fetch
from aval.audit_store.errors import StoreError

# The kinds of ai_systems.kind and the scopes of ai_stops.scope.
KINDS = ("OPENAI_COMPATIBLE", "ADVISOR")
SCOPES = ("TENANT", "DECISION_TYPE", "AI_SYSTEM")


@dataclass(frozen=True)
class ModelVersionRecord:
    """A registered model version and its instructions for use (AI Act art. 13)."""

    ai_system: str
    version: str
    intended_purpose: str
    known_limits: tuple[str, ...]
    accuracy_note: str
    metrics: dict[str, float]
    registered_by: str
    registered_at: datetime


@dataclass(frozen=True)
class AISystemRecord:
    """A tenant's AI system as registered: how to reach it, which version it runs, its costs."""

    tenant_id: str
    name: str
    kind: str  # one of KINDS
    endpoint: str
    model: str
    api_key_env: str
    pinned_version: str | None
    shadow_version: str | None
    enabled: bool
    timeout_ms: int
    max_attempts: int
    energy_mwh_per_1k_tokens: int
    energy_mwh_per_call: int
    cost_micro_eur_per_1k_tokens: int
    cost_micro_eur_per_call: int
    created_at: datetime
    updated_at: datetime
    version: int = 1


@dataclass(frozen=True)
class StopRecord:
    """A stop of the kill switch in force: no call reaches the AI in its scope."""

    tenant_id: str
    scope: str  # one of SCOPES
    target: str  # "" for TENANT
    reason: str
    stopped_by: str
    stopped_at: datetime


@dataclass(frozen=True)
class AdvicePlan:
    """What a proposal needs to ask an AI system: the system, its pinned and shadow versions,
    and the stop in force covering (tenant, decision type, AI system), if any."""

    system: AISystemRecord
    pinned: ModelVersionRecord | None
    shadow: ModelVersionRecord | None
    stop: StopRecord | None


class RegistryConflict(StoreError):
    """An AI system changed although the writer was meant to hold its row lock."""


_SYSTEM = (
    "tenant_id, name, kind, endpoint, model, api_key_env, pinned_version, shadow_version, "
    "enabled, timeout_ms, max_attempts, energy_mwh_per_1k_tokens, energy_mwh_per_call, "
    "cost_micro_eur_per_1k_tokens, cost_micro_eur_per_call, created_at, updated_at, version"
)
_VERSION = (
    "ai_system, version, intended_purpose, known_limits, accuracy_note, metrics, registered_by, "
    "registered_at"
)
_STOP = "tenant_id, scope, target, reason, stopped_by, stopped_at"
_SYSTEM_WIDTH, _VERSION_WIDTH = len(_SYSTEM.split(", ")), len(_VERSION.split(", "))


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns.split(", "))


def _system(row: Sequence[Any]) -> AISystemRecord:
    return AISystemRecord(*row)


def _version(row: Sequence[Any]) -> ModelVersionRecord:
    values = list(row)
    values[3] = tuple(values[3])
    values[5] = {str(k): float(v) for k, v in values[5].items()}
    return ModelVersionRecord(*values)


def _stop(row: Sequence[Any]) -> StopRecord:
    return StopRecord(*row)


# The largest energy or cost one call is estimated at (the registry's factors go up to 2**62).
MAX_ESTIMATE = 2**62


def energy_and_cost(
    system: AISystemRecord, input_tokens: int | None, output_tokens: int | None
) -> tuple[int, int]:
    """The estimated (energy in mWh, cost in micro-euros) of one call to `system`.

    Each is the per-call factor plus the per-1000-tokens factor times the tokens in and out
    (those the backend did not report count as 0), rounded half up to a whole unit.
    """
    tokens = (input_tokens or 0) + (output_tokens or 0)

    def estimate(per_call: int, per_1k_tokens: int) -> int:
        # Capped so that the row stays storable (bigint) whatever the factors and counts.
        return min(per_call + (per_1k_tokens * tokens + 500) // 1000, MAX_ESTIMATE)

    return (
        estimate(system.energy_mwh_per_call, system.energy_mwh_per_1k_tokens),
        estimate(system.cost_micro_eur_per_call, system.cost_micro_eur_per_1k_tokens),
    )


_PLAN = f"""
SELECT {_prefixed(_SYSTEM, "s")}, {_prefixed(_VERSION, "p")}, {_prefixed(_VERSION, "sh")},
       {_prefixed(_STOP, "st")}
FROM ai_systems s
LEFT JOIN model_versions p
       ON p.tenant_id = s.tenant_id AND p.ai_system = s.name AND p.version = s.pinned_version
LEFT JOIN model_versions sh
       ON sh.tenant_id = s.tenant_id AND sh.ai_system = s.name AND sh.version = s.shadow_version
LEFT JOIN LATERAL (
    SELECT {_STOP} FROM ai_stops t
    WHERE t.tenant_id = s.tenant_id
      AND (t.scope = 'TENANT'
           OR (t.scope = 'DECISION_TYPE' AND t.target = %(decision_type)s)
           OR (t.scope = 'AI_SYSTEM' AND t.target = s.name))
    ORDER BY CASE t.scope WHEN 'TENANT' THEN 0 WHEN 'DECISION_TYPE' THEN 1 ELSE 2 END
    LIMIT 1
) st ON true
WHERE s.tenant_id = %(tenant)s AND s.name = %(name)s
"""


async def advice_plan(
    conn: AsyncConnection[Any], tenant_id: str, decision_type: str, ai_system: str
) -> AdvicePlan | None:
    """The registered AI system with its pinned and shadow versions and the stop in force that
    covers (tenant, decision type, AI system), in one statement; None when not registered.

    When several stops cover it, the broadest is returned (tenant, then decision type, then
    AI system).
    """
    cur = await conn.execute(
        _PLAN, {"tenant": tenant_id, "name": ai_system, "decision_type": decision_type}
    )
    row = await cur.fetchone()
    if row is None:
        return None
    s, v = _SYSTEM_WIDTH, _VERSION_WIDTH
    pinned, shadow, stop = row[s : s + v], row[s + v : s + 2 * v], row[s + 2 * v :]
    return AdvicePlan(
        system=_system(row[:s]),
        pinned=_version(pinned) if pinned[0] is not None else None,
        shadow=_version(shadow) if shadow[0] is not None else None,
        stop=_stop(stop) if stop[0] is not None else None,
    )


# AI systems.


async def get_system(
    conn: AsyncConnection[Any], tenant_id: str, name: str, *, for_update: bool = False
) -> AISystemRecord | None:
    """One AI system of a tenant; FOR UPDATE locks its row until the transaction ends."""
    lock = " FOR UPDATE" if for_update else ""
    return await fetch.one(
        conn,
        f"SELECT {_SYSTEM} FROM ai_systems WHERE tenant_id = %s AND name = %s{lock}",
        (tenant_id, name),
        _system,
    )


async def list_systems(conn: AsyncConnection[Any], tenant_id: str) -> list[AISystemRecord]:
    """A tenant's AI systems, by name."""
    return await fetch.every(
        conn,
        f"SELECT {_SYSTEM} FROM ai_systems WHERE tenant_id = %s ORDER BY name",
        (tenant_id,),
        _system,
    )


async def insert_system(conn: AsyncConnection[Any], system: AISystemRecord) -> bool:
    """Registers a new AI system; False (and nothing written) when its name is taken."""
    placeholders = ", ".join(["%s"] * _SYSTEM_WIDTH)
    cur = await conn.execute(
        f"INSERT INTO ai_systems ({_SYSTEM}) VALUES ({placeholders})"
        " ON CONFLICT (tenant_id, name) DO NOTHING",
        astuple(system),
    )
    return cur.rowcount == 1


# The fields of an AI system that RegisterAISystem sets (the pinned and shadow versions aside).
CONFIGURATION = (
    "kind",
    "endpoint",
    "model",
    "api_key_env",
    "enabled",
    "timeout_ms",
    "max_attempts",
    "energy_mwh_per_1k_tokens",
    "energy_mwh_per_call",
    "cost_micro_eur_per_1k_tokens",
    "cost_micro_eur_per_call",
)
_MUTABLE = (*CONFIGURATION, "pinned_version", "shadow_version", "updated_at")


async def update_system(conn: AsyncConnection[Any], system: AISystemRecord) -> AISystemRecord:
    """Writes every changeable column of `system` and bumps its version; returns it as stored.

    The caller holds the row lock (`get_system(..., for_update=True)`) and passes the record it
    read, changed.

    Raises:
        RegistryConflict: the stored version is no longer the one `system` was read at.
    """
    assignments = ", ".join(f"{c} = %s" for c in _MUTABLE)
    cur = await conn.execute(
        f"UPDATE ai_systems SET {assignments}, version = version + 1"
        f" WHERE tenant_id = %s AND name = %s AND version = %s RETURNING {_SYSTEM}",
        (
            *(getattr(system, c) for c in _MUTABLE),
            system.tenant_id,
            system.name,
            system.version,
        ),
    )
    row = await cur.fetchone()
    if row is None:
        raise RegistryConflict(f"AI system {system.name} of {system.tenant_id} changed meanwhile")
    return _system(row)


# Model versions.


async def list_versions(
    conn: AsyncConnection[Any], tenant_id: str, ai_system: str | None = None
) -> list[ModelVersionRecord]:
    """The registered versions of a tenant's AI systems (or of one), oldest first per system."""
    where, params = "tenant_id = %s", [tenant_id]
    if ai_system is not None:
        where += " AND ai_system = %s"
        params.append(ai_system)
    return await fetch.every(
        conn,
        f"SELECT {_VERSION} FROM model_versions WHERE {where}"
        " ORDER BY ai_system, registered_at, version",
        params,
        _version,
    )


async def get_version(
    conn: AsyncConnection[Any], tenant_id: str, ai_system: str, version: str
) -> ModelVersionRecord | None:
    """One registered version of an AI system, or None."""
    return await fetch.one(
        conn,
        f"SELECT {_VERSION} FROM model_versions"
        " WHERE tenant_id = %s AND ai_system = %s AND version = %s",
        (tenant_id, ai_system, version),
        _version,
    )


async def insert_version(
    conn: AsyncConnection[Any], tenant_id: str, record: ModelVersionRecord
) -> bool:
    """Registers a model version; False (and nothing written) when that version exists."""
    cur = await conn.execute(
        f"INSERT INTO model_versions (tenant_id, {_VERSION})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, ai_system, version) DO NOTHING",
        (
            tenant_id,
            record.ai_system,
            record.version,
            record.intended_purpose,
            list(record.known_limits),
            record.accuracy_note,
            Jsonb(record.metrics),
            record.registered_by,
            record.registered_at,
        ),
    )
    return cur.rowcount == 1


# The kill switch.


async def insert_stop(conn: AsyncConnection[Any], stop: StopRecord) -> tuple[StopRecord, bool]:
    """Stops a scope: (the stop in force, True) when new, (the first stop, False) when that
    scope was already stopped (the first stop is kept)."""
    while True:
        cur = await conn.execute(
            f"INSERT INTO ai_stops ({_STOP}) VALUES (%s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (tenant_id, scope, target) DO NOTHING RETURNING {_STOP}",
            astuple(stop),
        )
        row = await cur.fetchone()
        if row is not None:
            return _stop(row), True
        cur = await conn.execute(
            f"SELECT {_STOP} FROM ai_stops WHERE tenant_id = %s AND scope = %s AND target = %s",
            (stop.tenant_id, stop.scope, stop.target),
        )
        row = await cur.fetchone()
        if row is not None:
            return _stop(row), False
        # Resumed between the two statements: try again.


async def delete_stop(
    conn: AsyncConnection[Any], tenant_id: str, scope: str, target: str
) -> StopRecord | None:
    """Lifts a stop; returns the stop that was in force, or None when there was none."""
    return await fetch.one(
        conn,
        "DELETE FROM ai_stops WHERE tenant_id = %s AND scope = %s AND target = %s"
        f" RETURNING {_STOP}",
        (tenant_id, scope, target),
        _stop,
    )


async def list_stops(conn: AsyncConnection[Any], tenant_id: str) -> list[StopRecord]:
    """The stops in force in a tenant, broadest scope first, then oldest first."""
    return await fetch.every(
        conn,
        f"SELECT {_STOP} FROM ai_stops WHERE tenant_id = %s ORDER BY"
        " CASE scope WHEN 'TENANT' THEN 0 WHEN 'DECISION_TYPE' THEN 1 ELSE 2 END,"
        " stopped_at, target",
        (tenant_id,),
        _stop,
    )
