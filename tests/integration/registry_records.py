"""Registry records for the integration tests: an AI system and a model version, as registered
now."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aval.audit_store.registry import AISystemRecord, ModelVersionRecord

NOW = datetime.now(UTC).replace(microsecond=0)


def new_system(tenant: str, name: str = "orienteur", **changes: Any) -> AISystemRecord:
    system = AISystemRecord(
        tenant_id=tenant,
        name=name,
        kind="ADVISOR",
        endpoint="127.0.0.1:50061",
        model="",
        api_key_env="",
        pinned_version=None,
        shadow_version=None,
        enabled=True,
        timeout_ms=10_000,
        max_attempts=2,
        energy_mwh_per_1k_tokens=10,
        energy_mwh_per_call=2,
        cost_micro_eur_per_1k_tokens=1000,
        cost_micro_eur_per_call=5,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(system, **changes)


def new_version(name: str, version: str) -> ModelVersionRecord:
    return ModelVersionRecord(
        ai_system=name,
        version=version,
        intended_purpose="orienter les signalements de voirie",
        known_limits=("ne lit pas les photos", "français seulement"),
        accuracy_note="exactitude 0,91 sur 120 signalements",
        metrics={"accuracy": 0.91, "f1": 0.88},
        registered_by="admin-a",
        registered_at=NOW,
    )
