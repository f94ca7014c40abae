"""What the registries' check, the AI calls' check and the inputs' re-hash add to verification
(verify_registry.py, verify_ai_calls.py).

Over one tenant of a generated trail, in one snapshot on one connection, runs the whole of
`verify.verify_tenant` (chain, checkpoints, facts with the inputs hashed by PostgreSQL,
registries, AI calls: the baseline), then every input hashed by this process instead
(`verify_registry.inputs_differing`, what verification does only for inputs PostgreSQL does not
hash the service's way, and did for all before), `verify_registry.registry_problems` and
`verify_ai_calls.ai_call_problems` alone, both ways (each event parsed whole, as when the chain
check doubted a range; only its data, as when it proved every event's columns). For each it
prints the wall time, the CPU of this process and of the PostgreSQL backend (read from /proc
when PostgreSQL runs here), per decision and per event.

Example:
    python tests/benchmarks/verify_registry_cost.py --tenant bench-01 \\
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store import verify, verify_ai_calls, verify_registry  # noqa: E402
from aval.audit_store.migrate import SCHEMA  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds  # noqa: E402


async def _timed(
    conn: psycopg.AsyncConnection[Any], run: Callable[[], Awaitable[Any]]
) -> tuple[float, float, float]:
    """(wall, this process's CPU, the backend's CPU) seconds of `run`."""
    pid = conn.info.backend_pid
    backend, mine, began = _cpu_seconds(pid), time.process_time(), time.perf_counter()
    await run()
    wall = time.perf_counter() - began
    return wall, time.process_time() - mine, _cpu_seconds(pid) - backend


async def main(url: str, tenant: str, rounds: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"SET search_path = {SCHEMA}")
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM audit_events WHERE tenant_id = %s),"
            " (SELECT count(*) FROM decisions WHERE tenant_id = %s),"
            " (SELECT count(*) FROM ai_calls WHERE tenant_id = %s)",
            (tenant, tenant, tenant),
        )
        events, decisions, calls = await cur.fetchone() or (0, 0, 0)
        print(
            f"{tenant}: {events} events, {decisions} decisions, {calls} AI calls; pid {os.getpid()}"
        )
        for attempt in range(1, rounds + 1):
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                whole = await _timed(conn, lambda: verify.verify_tenant(conn, tenant))
                inputs = await _timed(
                    conn, lambda: verify_registry.inputs_differing(conn, tenant, None)
                )
                registry = await _timed(
                    conn, lambda: verify_registry.registry_problems(conn, tenant)
                )
                ai_calls = await _timed(
                    conn, lambda: verify_ai_calls.ai_call_problems(conn, tenant)
                )
                ai_calls_data = await _timed(
                    conn,
                    lambda: verify_ai_calls.ai_call_problems(conn, tenant, columns_proven=True),
                )
            print(
                f"round {attempt}: whole verification {whole[0]:.2f}s wall"
                f" ({events / whole[0]:,.0f} events/s)"
            )
            parts = (
                ("every input hashed here", inputs),
                ("registries", registry),
                ("AI calls, events parsed whole", ai_calls),
                ("AI calls, data parsed (columns proven)", ai_calls_data),
            )
            for name, (wall, mine, server) in parts:
                print(
                    f"  {name}: {wall:.3f}s wall = {wall / decisions * 1e6:.1f} us/decision"
                    f" ({wall / events * 1e6:.2f} us/event); CPU python"
                    f" {mine / decisions * 1e6:.1f} us/decision, PostgreSQL"
                    f" {server / decisions * 1e6:.1f} us/decision;"
                    f" {wall / whole[0] * 100:.0f}% of the whole"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("AVAL_DATABASE_URL"))
    parser.add_argument("--tenant", default="bench-01")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if not options.database_url:
        parser.error("--database-url (or AVAL_DATABASE_URL) is required")
    asyncio.run(main(options.database_url, options.tenant, options.rounds))
