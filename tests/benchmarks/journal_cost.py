"""What the access journal costs a read: GetDecision's use case with and without its row (R13).

In-process, on the PostgreSQL of AVAL_DATABASE_URL (embedded when unset): one decision, then
`--calls` GetDecision reads with `--concurrency` in flight, through the journal's group commit
(as the server does), and as many with the journal's write replaced by nothing. The two are
measured in alternating rounds (`--rounds`, 3 by default). CPU per call is read from /proc for
this process (the use case, the journal's writer and psycopg) and for every PostgreSQL process
of the machine; gRPC's own cost, the same with or without the journal, is left out.

Prints one line per round, then the ranges over the rounds, and last:
journal_extra_cpu_ms=LOW..HIGH (process + PostgreSQL per GetDecision, with minus without).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store import migrate  # noqa: E402
from aval.audit_store.embedded import start_embedded  # noqa: E402
from aval.audit_store.journal_writer import JournalWriter  # noqa: E402
from aval.service.decisions import proposals, reading  # noqa: E402
from aval.service.deployment import Deployment  # noqa: E402
from aval.service.identity import Principal, load_principals  # noqa: E402
from aval.service.requests.decisions import DecisionRef, ProposeIn  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds, _postgres_seconds  # noqa: E402
from tests.in_process import deployment_running  # noqa: E402
from tests.support import write_config  # noqa: E402


async def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


async def _reads(
    deployment: Deployment, principal: Principal, ref: DecisionRef, calls: int, concurrency: int
) -> None:
    counter = iter(range(calls))

    async def worker() -> None:
        for _ in counter:
            await reading.get_decision(deployment, principal, ref)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _round(
    deployment: Deployment,
    principal: Principal,
    ref: DecisionRef,
    calls: int,
    concurrency: int,
    journal: bool,
) -> tuple[float, float, float]:
    """Runs one round; returns (process ms, PostgreSQL ms) per call and calls per second."""
    original = reading.journal_read
    if not journal:
        reading.journal_read = _nothing  # type: ignore[assignment]
    try:
        process, postgres, began = (
            _cpu_seconds(os.getpid()),
            _postgres_seconds(),
            time.perf_counter(),
        )
        await _reads(deployment, principal, ref, calls, concurrency)
        elapsed = time.perf_counter() - began
        process = _cpu_seconds(os.getpid()) - process
        postgres = _postgres_seconds() - postgres
    finally:
        reading.journal_read = original  # type: ignore[assignment]
    return process * 1000 / calls, postgres * 1000 / calls, calls / elapsed


async def main_async(url: str, config_dir: Path, args: argparse.Namespace) -> None:
    await migrate(url)
    async with deployment_running(url, config_dir) as base:
        journal = JournalWriter(base.store)
        journal.start()
        deployment = dataclasses.replace(base, journal=journal)
        people = {p.id: p for p, _ in load_principals(config_dir / "principals.yaml")}
        app, reader = people["app-a"], people["sup-a1"]
        request = ProposeIn(
            decision_type="voirie.signalement",
            subject_ref="usager:banc",
            input={"objet": "nid-de-poule"},
            idempotency_key=f"bench-{time.time_ns()}",
            attested_suggestion={"output": {"service": "voirie"}},  # type: ignore[arg-type]
        )
        decision = (await proposals.propose(deployment, app, request)).decision
        ref = DecisionRef(decision_id=decision.id)
        await _round(deployment, reader, ref, 200, args.concurrency, True)  # warm up both paths
        await _round(deployment, reader, ref, 200, args.concurrency, False)
        results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        for number in range(args.rounds):
            for journaled in (True, False):
                found = await _round(
                    deployment, reader, ref, args.calls, args.concurrency, journaled
                )
                results[journaled].append(found)
                label = "with" if journaled else "without"
                print(
                    f"round {number + 1} {label:7} journal: process {found[0]:.3f} ms/call, "
                    f"postgres {found[1]:.3f} ms/call, {found[2]:.0f} calls/s",
                    flush=True,
                )
        await journal.stop()
    extra = [
        (w[0] + w[1]) - (o[0] + o[1]) for w, o in zip(results[True], results[False], strict=True)
    ]
    for journaled in (True, False):
        rows = results[journaled]
        label = "with" if journaled else "without"
        print(
            f"{label} journal over {args.rounds} rounds: process "
            f"{min(r[0] for r in rows):.3f}..{max(r[0] for r in rows):.3f} ms/call, postgres "
            f"{min(r[1] for r in rows):.3f}..{max(r[1] for r in rows):.3f} ms/call, "
            f"{min(r[2] for r in rows):.0f}..{max(r[2] for r in rows):.0f} calls/s"
        )
    print(f"journal_extra_cpu_ms={min(extra):.3f}..{max(extra):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aval-bench-journal-", dir="/tmp") as folder:
        config_dir = Path(folder)
        write_config(config_dir)
        url = os.environ.get("AVAL_DATABASE_URL") or start_embedded(config_dir / "pg")
        asyncio.run(main_async(url, config_dir, args))


if __name__ == "__main__":
    main()
