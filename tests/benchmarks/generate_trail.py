"""Generates valid audit trails for the query and verification benchmarks, loaded by COPY.

Each tenant ``bench-NN`` gets a year of decisions, their reviews and their chained events, as
the service would have written them: events of concurrent decisions interleave, every event's
canonical bytes and chain hash are made by ``aval.verifier.chain`` (the same functions as the
service), each decision's row agrees with its last event, and ``chain_heads`` holds each
tenant's head, so that ``VerifyChain`` finds nothing wrong. Rows are loaded with COPY on a
superuser connection, which bypasses ``append_audit_events`` and nothing else (triggers,
constraints and indexes stay in place). Tenants are generated in parallel, one per process.

Example:
    python tests/benchmarks/generate_trail.py --events 10000000 --tenants 50 \
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store import migrate  # noqa: E402
from tests.benchmarks.trail_writer import TenantWriter, tenant_name  # noqa: E402

_progress: Any = None


def _init(queue: Any) -> None:
    global _progress
    _progress = queue


def _generate(task: tuple[int, int, int, float, str, bool]) -> tuple[str, int]:
    index, events, seed, span_days, url, ai_calls = task
    writer = TenantWriter(index, events, seed, timedelta(days=span_days), ai_calls)
    return writer.run(url, _progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in all (200000)")
    parser.add_argument("--tenants", type=int, default=50, help="tenants bench-01... (50)")
    parser.add_argument(
        "--database-url", default=os.environ.get("AVAL_DATABASE_URL"), help="a superuser's URL"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=float, default=365.0, help="time the trails span")
    parser.add_argument(
        "--ai-calls",
        action="store_true",
        help="each proposal asks its AI system: an ai.consulted event and an ai_calls row",
    )
    options = parser.parse_args()
    if not options.database_url:
        parser.error("--database-url (or AVAL_DATABASE_URL) is required")
    url = options.database_url
    asyncio.run(migrate(url))
    names = [tenant_name(i) for i in range(1, options.tenants + 1)]
    with psycopg.connect(url) as conn:
        taken = conn.execute(
            "SELECT count(*) FROM aval.chain_heads WHERE tenant_id = ANY(%s)", (names,)
        ).fetchone()
        if taken and taken[0]:
            sys.exit(f"{taken[0]} of the tenants bench-NN already have a trail: use a new database")
    share, extra = divmod(options.events, options.tenants)
    tasks = [
        (i, share + (1 if i <= extra else 0), options.seed, options.days, url, options.ai_calls)
        for i in range(1, options.tenants + 1)
    ]
    print(
        f"generating {options.events:,} events for {options.tenants} tenants "
        f"with {options.jobs} processes",
        flush=True,
    )
    began = time.perf_counter()
    queue: Any = multiprocessing.Manager().Queue()
    done, tenants_done, last = 0, 0, 0.0
    with multiprocessing.Pool(options.jobs, initializer=_init, initargs=(queue,)) as pool:
        results = pool.imap_unordered(_generate, tasks)
        pending = len(tasks)
        while pending:
            while not queue.empty():
                done += queue.get()
            try:
                results.next(timeout=0.5)
                pending -= 1
                tenants_done += 1
            except multiprocessing.TimeoutError:
                pass
            now = time.perf_counter() - began
            if now - last >= 5 or not pending:
                last = now
                print(
                    f"  {done:,}/{options.events:,} events ({100 * done / options.events:.0f}%), "
                    f"{tenants_done}/{options.tenants} tenants, {done / now:,.0f} events/s",
                    flush=True,
                )
    loaded = time.perf_counter() - began
    print("VACUUM ANALYZE (visibility map and planner statistics)...", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("audit_events", "decisions", "reviews", "chain_heads", "ai_calls"):
            conn.execute(f"VACUUM (ANALYZE) aval.{table}")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        row = size.fetchone()
    total = time.perf_counter() - began
    print(
        f"generated {options.events:,} events in {loaded:.0f}s "
        f"({options.events / loaded:,.0f} events/s), {total:.0f}s with VACUUM; "
        f"database size {row[0] if row else '?'}",
        flush=True,
    )


if __name__ == "__main__":
    main()
