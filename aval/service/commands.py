"""What `aval serve` and `aval migrate` run."""

from __future__ import annotations

import asyncio
import logging
import sys

import psycopg
from pydantic import ValidationError

from aval.audit_store import DatabaseUnavailable
from aval.audit_store import migrate as apply_migrations
from aval.policies import PolicyError

from .identity import PrincipalsFileError
from .server import StartupError, database_url, run
from .settings import Settings


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
