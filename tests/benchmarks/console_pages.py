"""The supervisors' pages under a full queue: p95 server time of the queue page (GET /file, first
page) and of a case page (GET /dossier/<id>) with 10,000 pending decisions in one tenant.

Creates a fresh database on the PostgreSQL server of --database-url (dropped at the end unless
--keep), starts `aval serve` with its console (tests/support.py's ServerProcess), proposes the
decisions through the gateway (Propose over gRPC, --concurrency calls in flight), signs in to
the console as a supervisor (sup-a1) and reads each page --requests times. The server time is
the console's own `Server-Timing: app;dur=<ms>` header: from the request's arrival to the start
of the response, gateway calls and rendering included, network excluded. Each case page opens
a different case (a reviewer's first display, which the gateway records in the trail).

    .venv/bin/python tests/benchmarks/console_pages.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

Prints, last: queue_p95_ms=X case_p95_ms=Y (goals: queue < 150 ms, case < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store.migrate import migrate  # noqa: E402
from aval.clients.sdk.client import AsyncClient  # noqa: E402
from tests.console.support import Visitor, console_env, console_url  # noqa: E402
from tests.support import ServerProcess, token_of  # noqa: E402

GOALS_MS = {"queue": 150.0, "case": 100.0}
_TIMING = re.compile(r"app;dur=([0-9.]+)")


async def _propose_all(address: str, count: int, concurrency: int) -> list[str]:
    """Proposes `count` decisions of ville-a as app-a, `concurrency` at a time."""
    ids: list[str] = []
    started = time.monotonic()
    async with AsyncClient(address, token_of("app-a"), timeout=60) as client:
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with slots:
                response = await client.propose(
                    decision_type="voirie.signalement",
                    subject_ref=f"usager:{n:06d}",
                    input={"texte": f"Nid de poule devant le {n} rue des Lilas", "canal": "web"},
                    suggestion={"service": "voirie"},
                    confidence=0.8 + (n % 20) / 100,
                    explanation="termes: nid de poule (0.9)",
                    model="triage@2026.11",
                )
                ids.append(response.decision.id)

        await asyncio.gather(*(one(n) for n in range(count)))
    took = time.monotonic() - started
    print(f"proposed {count} decisions in {took:.1f} s ({count / took:.0f}/s)", flush=True)
    return ids


def _server_ms(visitor: Visitor, path: str) -> float:
    page = visitor.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:500])
    found = _TIMING.search(page.headers.get("server-timing", ""))
    assert found, "the console sent no Server-Timing header"
    return float(found[1])


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def _report(name: str, values: list[float]) -> float:
    p95 = _p95(values)
    goal = GOALS_MS[name]
    verdict = "met" if p95 < goal else "MISSED"
    print(
        f"{name}: n={len(values)} p50={statistics.median(values):.1f} ms "
        f"p95={p95:.1f} ms max={max(values):.1f} ms (goal p95 < {goal:.0f} ms: {verdict})",
        flush=True,
    )
    return p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server (admin)")
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database")
    args = parser.parse_args()

    name = f"aval_bench_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = conninfo.make_conninfo(args.database_url, dbname=name)
    asyncio.run(migrate(url))
    folder = Path(tempfile.mkdtemp(prefix="aval-bench-console-"))
    server = ServerProcess.start(
        url, folder, name="console-bench", extra_env=console_env(folder / "console")
    )
    try:
        base = console_url(server)
        ids = asyncio.run(_propose_all(server.address, args.decisions, args.concurrency))
        visitor = Visitor(base)
        visitor.sign_in("sup-a1")
        for _ in range(5):  # warm-up: connections, templates, caches
            _server_ms(visitor, "/file")
        queue = [_server_ms(visitor, "/file") for _ in range(args.requests)]
        chosen = random.Random(17).sample(ids, args.requests + 5)
        for decision_id in chosen[:5]:
            _server_ms(visitor, f"/dossier/{decision_id}")
        case = [_server_ms(visitor, f"/dossier/{d}") for d in chosen[5:]]
        visitor.close()
        queue_p95 = _report("queue", queue)
        case_p95 = _report("case", case)
        print(f"queue_p95_ms={queue_p95:.1f} case_p95_ms={case_p95:.1f}")
    finally:
        server.stop()
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
