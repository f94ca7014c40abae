"""`aval serve --demo`: the demo's own AI system behind `voirie.signalement`.

The street-report triage model (aval.service.ai.advisor_demo) runs as a separate process speaking
the Advisor contract, as a real AI system would. At each start the demo registers it in
ville-demo's registry (its address changes from run to run), with the model version it serves
and that version's instructions for use, and pins that version. Those acts are audited like an
administrator's, with the system as actor and the reason saying it is the demo's set-up.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from psycopg import AsyncConnection

from aval.audit_store import Store, registry, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import SYSTEM_ACTOR
from aval.audit_store.registry import AISystemRecord, ModelVersionRecord
from aval.audit_store.seals import Sealer
from aval.service.ai.advisor_demo import (
    INTENDED_PURPOSE,
    KNOWN_LIMITS,
    SYSTEM_NAME,
    train_demo_model,
)
from aval.service.ai.egress_file import demo_egress
from aval.service.clock import SYSTEM_CLOCK
from aval.service.runtime.demo import DEMO_TENANT

log = logging.getLogger(__name__)

_REASON = "aval serve --demo : système d'IA de démonstration, enregistré et épinglé au démarrage"


class DemoAdvisorError(RuntimeError):
    """The demo's AI system could not start."""


@dataclass
class DemoAdvisorProcess:
    """The demo advisor's process and the address it serves on."""

    process: subprocess.Popen[str]
    endpoint: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_demo_egress(data_dir: Path, endpoint: str, base: Path | None) -> Path:
    """Writes `<data_dir>/demo/ai-egress.yaml`: the operator's egress file `base` (if any) with
    ville-demo allowed to reach the demo's advisor at `endpoint` (loopback HOST:PORT)."""
    host, _, port = endpoint.rpartition(":")
    folder = data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ai-egress.yaml"
    path.write_text(
        "# Written by `aval serve --demo`: the demo's AI system runs on loopback.\n"
        + yaml.safe_dump(
            demo_egress(base, DEMO_TENANT, host, int(port)), allow_unicode=True, sort_keys=False
        ),
        encoding="utf-8",
    )
    return path


def start_demo_advisor_process() -> DemoAdvisorProcess:
    """Starts the advisor on a free loopback port; it ends when this process ends.

    Raises:
        DemoAdvisorError: it did not start (its error output is in the message).
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aval.service.ai.advisor_demo",
            "--listen",
            "127.0.0.1:0",
            "--exit-with-parent",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("listening on "):
            return DemoAdvisorProcess(process, line.removeprefix("listening on ").strip())
    error = process.stderr.read() if process.stderr else ""
    raise DemoAdvisorError(f"the demo's AI system did not start: {error.strip() or 'no output'}")


async def register_demo_advisor(
    database_url: str, endpoint: str, sealer: Sealer | None = None
) -> str:
    """Registers (or brings up to date) the demo advisor in ville-demo and pins the version it
    serves; returns that version. `sealer` seals the events it appends (the server's key)."""
    model = train_demo_model()  # deterministic: the same model the advisor process trained
    version = ModelVersionRecord(
        ai_system=SYSTEM_NAME,
        version=model.version,
        intended_purpose=INTENDED_PURPOSE,
        known_limits=tuple(KNOWN_LIMITS),
        accuracy_note=(
            f"justesse {model.evaluation.accuracy:.2f} sur {model.evaluation.test_size} "
            "signalements tenus à l'écart de l'apprentissage".replace(".", ",", 1)
        ),
        metrics=model.evaluation.figures(),
        registered_by=SYSTEM_ACTOR.id,
        registered_at=SYSTEM_CLOCK.now(),
    )
    store = Store(database_url, min_size=1, max_size=1)
    store.sealer = sealer
    await store.open()
    try:
        async with store.transaction() as conn:
            # One instant for the rows and their events: verification derives the rows'
            # times from the events' (verify_registry).
            now = SYSTEM_CLOCK.now()
            version = dataclasses.replace(version, registered_at=now)
            events = await _bring_up_to_date(conn, endpoint, version, now)
            if events:
                await trail.append_events(conn, DEMO_TENANT, events, occurred_at=now, trace_id="")
    finally:
        await store.close()
    log.info("demo AI system %s %s at %s", SYSTEM_NAME, model.version, endpoint)
    return model.version


async def _bring_up_to_date(
    conn: AsyncConnection[Any], endpoint: str, version: ModelVersionRecord, now: datetime
) -> list[NewEvent]:
    """The demo system registered, its version registered and pinned at `endpoint`; the
    events of what changed, each saying every value it sets (as an administrator's would)."""
    events: list[NewEvent] = []
    current = await registry.get_system(conn, DEMO_TENANT, SYSTEM_NAME, for_update=True)
    if current is None:
        current = AISystemRecord(
            tenant_id=DEMO_TENANT,
            name=SYSTEM_NAME,
            kind="ADVISOR",
            endpoint=endpoint,
            model="",
            api_key_env="",
            pinned_version=None,
            shadow_version=None,
            enabled=True,
            timeout_ms=5000,
            max_attempts=2,
            energy_mwh_per_1k_tokens=0,
            # A linear model on one core: far below a milliwatt-hour per call.
            energy_mwh_per_call=0,
            cost_micro_eur_per_1k_tokens=0,
            cost_micro_eur_per_call=0,
            created_at=now,
            updated_at=now,
        )
        await registry.insert_system(conn, current)
        events.append(_registered(current, created=True))
    if await registry.insert_version(conn, DEMO_TENANT, version):
        data = {
            "version": version.version,
            "intended_purpose": version.intended_purpose,
            "known_limits": list(version.known_limits),
            "accuracy_note": version.accuracy_note,
            "metrics": version.metrics,
        }
        events.append(_event("admin.model_version_registered", data))
    if current.endpoint != endpoint or current.pinned_version != version.version:
        changed = dataclasses.replace(
            current, endpoint=endpoint, pinned_version=version.version, updated_at=now
        )
        changed = await registry.update_system(conn, changed)
        events.append(_registered(changed, created=False))
    return events


def _registered(system: AISystemRecord, *, created: bool) -> NewEvent:
    """The event of the demo system registered (`created`) or moved to a new endpoint or
    version: its whole configuration and pinned version (the demo pins without a request)."""
    data = {
        "created": created,
        "configuration": {name: getattr(system, name) for name in registry.CONFIGURATION},
        "endpoint": system.endpoint,
        "pinned_version": system.pinned_version,
    }
    return _event("admin.ai_system_registered", data)


def _event(kind: str, data: dict[str, Any]) -> NewEvent:
    return NewEvent(kind, SYSTEM_ACTOR, None, {"ai_system": SYSTEM_NAME, **data, "reason": _REASON})
