"""ReloadConfiguration and SIGHUP: the operator's files read again without a restart, in every
worker process.

The process that is asked (by an administrator's call, or by SIGHUP) stages every part
(`configuration.Reloader`); when a file is invalid it refuses with the file, line and fix and
keeps what is in force. Otherwise, in one transaction, it records an `admin.configuration_reloaded`
event in the trail of every tenant (old and new) naming the new revisions, and NOTIFYs the
channel `aval_configuration`; once that commits it applies the new parts. Every other worker
(`--workers N`, or another replica on the same database) LISTENs on that channel and reloads
the same files, recording nothing. Nothing changed, nothing written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from aval.audit_store import trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.service.configuration import (
    ConfigurationInvalid,
    GrantsPart,
    PoliciesPart,
    Reloadable,
    Reloader,
    Revision,
)
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition
from aval.service.identity import Principal, actor_of
from aval.service.requests.reviewers import ReloadIn
from aval.service.runtime.principals_reload import PrincipalsPart, file_authenticator_of
from aval.service.telemetry import current_trace_id

log = logging.getLogger("aval")
CHANNEL = "aval_configuration"
# This process's name on the channel: it does not reload again on its own notification.
PROCESS_TOKEN = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
SIGNAL_ACTOR = Actor(id="operator:SIGHUP", type=ActorType.SYSTEM)


@dataclass(frozen=True)
class Reloaded:
    parts: list[Revision]

    @property
    def changed(self) -> bool:
        return any(part.changed for part in self.parts)


def _reloader(deployment: Deployment) -> Reloader:
    if deployment.reloader is None:
        raise FailedPrecondition("RELOAD_UNAVAILABLE")
    return deployment.reloader


def _refusal(exc: ConfigurationInvalid) -> FailedPrecondition:
    return FailedPrecondition(
        "CONFIGURATION_INVALID",
        part=exc.part,
        file=exc.file,
        line=exc.line or "-",
        problem=exc.problem,
        fix=exc.fix,
    )


def _tenant_data(parts: list[Revision], tenant: str, reason: str) -> dict[str, Any]:
    shown = []
    for part in parts:
        revisions = {
            name: revision
            for name, revision in part.revisions.items()
            if "/" not in name or name.startswith(f"{tenant}/")
        }
        shown.append({"part": part.name, "changed": part.changed, "revisions": revisions})
    return {"parts": shown, "reason": reason, "process": PROCESS_TOKEN}


async def reload(
    deployment: Deployment, actor: Actor, reason: str, *, record: bool = True
) -> Reloaded:
    """Reloads every part; with `record`, audits it and tells the other processes.

    Raises:
        FailedPrecondition: CONFIGURATION_INVALID naming the file, line and fix (what is in
            force is kept), or RELOAD_UNAVAILABLE.
    """
    reloader = _reloader(deployment)
    async with reloader.lock:
        try:
            staged = reloader.stage()
        except ConfigurationInvalid as exc:
            log.error("configuration reload refused, the configuration in force is kept: %s", exc)
            raise _refusal(exc) from exc
        done = Reloaded([s.revision for s in staged])
        if not done.changed:
            return done
        if record:
            async with deployment.store.transaction() as conn:
                now = deployment.clock.now()
                tenants = deployment.policies.tenants | _new_tenants(done)
                for tenant in sorted(tenants):
                    data = _tenant_data(done.parts, tenant, reason)
                    event = NewEvent("admin.configuration_reloaded", actor, None, data)
                    await trail.append_events(
                        conn, tenant, [event], occurred_at=now, trace_id=current_trace_id()
                    )
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, PROCESS_TOKEN))
        reloader.apply(staged)
    log.info(
        "configuration reloaded (%s)",
        ", ".join(f"{p.name}{'' if p.changed else ' unchanged'}" for p in done.parts),
    )
    return done


def _new_tenants(done: Reloaded) -> set[str]:
    return {name.split("/", 1)[0] for part in done.parts for name in part.revisions if "/" in name}


async def reload_configuration(
    deployment: Deployment, principal: Principal, request: ReloadIn
) -> Reloaded:
    """An administrator's ReloadConfiguration (admin.write in their tenant)."""
    deployment.tenant_for(principal, request.tenant, "admin.write")
    return await reload(deployment, actor_of(principal), request.reason)


async def on_signal(deployment: Deployment) -> None:
    """SIGHUP: reloads, recorded as the operator's act; a refusal is only logged."""
    await _logged(reload(deployment, SIGNAL_ACTOR, "SIGHUP"))


async def _logged(reloading: Coroutine[Any, Any, Reloaded]) -> None:
    """Runs a reload nobody waits for: a refusal is already logged, anything else is logged
    here, and the configuration in force stays."""
    try:
        await reloading
    except FailedPrecondition:
        pass
    except Exception:
        log.exception("configuration reload failed; the configuration in force is kept")


def parts(deployment: Deployment) -> Reloader:
    """The reloadable parts of a deployment's configuration (settings from `prepare`)."""
    settings = deployment.settings
    assert settings.policy_dir is not None

    reloadable: list[Reloadable] = []
    file_authenticator = file_authenticator_of(deployment)
    if file_authenticator is not None and file_authenticator.path is not None:
        reloadable.append(PrincipalsPart(file_authenticator, file_authenticator.path))
    reloadable.append(PoliciesPart(deployment, settings.policy_dir))
    reloadable.append(GrantsPart(deployment, settings.grants_file))
    return Reloader(reloadable)


async def start(deployment: Deployment) -> asyncio.Task[None]:
    """Installs the deployment's reloader, reloads on SIGHUP, and follows the other processes'
    reloads; returns the follower's task (cancel it to stop), once it listens."""
    deployment.reloader = parts(deployment)
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()  # kept until done: the loop holds weak refs

    def hangup() -> None:
        task = loop.create_task(on_signal(deployment))
        running.add(task)
        task.add_done_callback(running.discard)

    loop.add_signal_handler(signal.SIGHUP, hangup)
    listening = asyncio.Event()
    assert deployment.settings.database_url is not None
    task = asyncio.create_task(follow(deployment, deployment.settings.database_url, listening))
    await asyncio.wait_for(listening.wait(), timeout=30)
    return task


async def follow(deployment: Deployment, url: str, listening: asyncio.Event) -> None:
    """Reloads whenever another process announces a reload on the channel; runs until
    cancelled, reconnecting when the connection is lost."""
    delay = 0.2
    while True:
        try:
            async with await AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if listening.is_set():  # a reload may have been announced while reconnecting
                    await _logged(reload(deployment, SIGNAL_ACTOR, "", record=False))
                listening.set()
                delay = 0.2
                async for note in conn.notifies():
                    if note.payload == PROCESS_TOKEN:
                        continue
                    await _logged(reload(deployment, SIGNAL_ACTOR, "", record=False))
        except asyncio.CancelledError:
            raise
        except psycopg.Error as exc:
            log.warning("configuration listener lost its connection (%s); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
