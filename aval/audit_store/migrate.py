"""Applies the numbered SQL migrations, once, under an advisory lock (safe with many replicas)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

SCHEMA = "aval"
SERVICE_ROLE = "aval_service"
# Any constant works: it only has to be the same for every replica.
_MIGRATION_LOCK_KEY = 0x4156414C  # "AVAL"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file of audit_store/migrations."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in order."""
    found = []
    for entry in resources.files("aval.audit_store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


_BOOTSTRAP = f"""
DO $$
BEGIN
    CREATE ROLE {SERVICE_ROLE} NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
GRANT USAGE ON SCHEMA {SCHEMA} TO {SERVICE_ROLE};
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


async def migrate(url: str) -> list[Migration]:
    """Applies pending migrations in one transaction; returns those applied.

    Replicas starting at once serialise on a transaction-scoped advisory lock: the first applies,
    the others find nothing left to do.
    """
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
        await conn.execute(_BOOTSTRAP)
        # The connecting role must be able to SET ROLE to the service role.
        await conn.execute(
            f"DO $$ BEGIN IF NOT pg_has_role(current_user, '{SERVICE_ROLE}', 'MEMBER') "
            f"THEN EXECUTE format('GRANT {SERVICE_ROLE} TO %I', current_user); END IF; END $$"
        )
        cur = await conn.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        applied = []
        await conn.execute(f"SET LOCAL search_path = {SCHEMA}")
        for migration in available_migrations():
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            await conn.execute(migration.sql.encode())
            await conn.execute(
                f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration)
        return applied
