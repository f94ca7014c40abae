"""What `aval serve` and `aval migrate` run."""

from __future__ import annotations

import asyncio
import logging
import sys

import psycopg
from pydantic import ValidationError

from aval.audit_store import DatabaseUnavailable
from aval.audit_store import migrate as apply_migrations
from aval.policies import PolicyError, load_policy_dir
from aval.service.ai.egress_file import describe, load_egress
from aval.service.audit import checkpointing
from aval.service.identity import PrincipalsFileError
from aval.service.runtime import demo
from aval.service.runtime.demo_ai import (
    DemoAdvisorError,
    DemoAdvisorProcess,
    register_demo_advisor,
    start_demo_advisor_process,
    write_demo_egress,
)
from aval.service.runtime.server import (
    Launch,
    StartupError,
    announce,
    configure_logging,
    database_url,
    prepare,
    run_loop,
    serve_worker,
)
from aval.service.runtime.workers import supervise
from aval.service.settings import Settings

log = logging.getLogger("aval")


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "AVAL_" + str(first["loc"][0]).upper()
        raise StartupError(f"{name}: {first['msg']}") from exc


def serve(*, listen: str | None, demo: bool, workers: int | None = None) -> int:
    """Runs the server; returns its exit code. Startup errors are one line naming the fix."""
    try:
        return run(_settings(listen=listen, workers=workers), demo_mode=demo)
    except (StartupError, PolicyError, PrincipalsFileError, DatabaseUnavailable) as exc:
        print(f"aval serve: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(
            f"aval serve: cannot use the database: {exc}; check AVAL_DATABASE_URL", file=sys.stderr
        )
        return 2


def migrate() -> int:
    """Applies pending migrations to the configured (or embedded) database."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        settings = _settings()
        applied = asyncio.run(apply_migrations(database_url(settings)))
    except (StartupError, DatabaseUnavailable) as exc:
        print(f"aval migrate: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(
            f"aval migrate: cannot use the database: {exc}; check AVAL_DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    print(f"{len(applied)} migration(s) applied" if applied else "database is up to date")
    return 0


def run(settings: Settings, *, demo_mode: bool) -> int:
    """Entry point of `aval serve`; returns the process exit code."""
    configure_logging()
    launch = prepare(settings, demo_mode=demo_mode)
    advisor = start_demo_ai(launch.settings) if demo_mode else None
    try:
        if advisor is not None:
            launch = allow_demo_ai_egress(launch, advisor)
        host = launch.settings.listen.rsplit(":", 1)[0]
        if launch.settings.workers > 1:
            return supervise(launch, host)
        console_url = None
        if launch.settings.console_listen is not None:
            scheme = "https" if launch.settings.tls_cert_file else "http"
            console_url = f"{scheme}://{launch.settings.console_listen}/"
        run_loop(
            launch.settings,
            serve_worker(
                launch.settings,
                on_ready=lambda port: announce(
                    host, port, launch.exports, launch.settings.http_listen, console_url
                ),
                demo_people=demo.demo_people(launch.exports) if demo_mode else None,
            ),
        )
        return 0
    finally:
        if advisor is not None:
            advisor.stop()


def allow_demo_ai_egress(launch: Launch, advisor: DemoAdvisorProcess) -> Launch:
    """The launch with an egress file that also lets ville-demo reach the demo's AI system."""
    settings = launch.settings
    assert settings.policy_dir is not None
    path = write_demo_egress(settings.data_dir, advisor.endpoint, settings.ai_egress_file)
    log.info("%s", describe(load_egress(path, load_policy_dir(settings.policy_dir).tenants)))
    return Launch(settings.model_copy(update={"ai_egress_file": path}), launch.exports)


def start_demo_ai(settings: Settings) -> DemoAdvisorProcess:
    """Starts the demo's AI system and registers it in ville-demo's registry."""
    assert settings.database_url
    try:
        advisor = start_demo_advisor_process()
    except DemoAdvisorError as exc:
        raise StartupError(str(exc)) from exc
    try:
        signer = checkpointing.load_signer(settings)
        sealer = signer.sealer() if signer is not None else None
        asyncio.run(register_demo_advisor(settings.database_url, advisor.endpoint, sealer))
    except BaseException:
        advisor.stop()
        raise
    return advisor
