"""The facts check (with the inputs' re-hash) of one tenant, this checkout against an earlier
commit's, in turns and in one snapshot: CPU per event and wall time of each, and their ratios.

The earlier commit's `verify_facts` (and `verify_registry`, whose `input_problems` hashed every
input in this process then) are read with `git show` and loaded beside this checkout's, so both
run on the same connections, the same data and the same load. The chain check runs once first:
both take the states it proved. CPU is that of the PostgreSQL backends (from /proc) and of this
process.

Example:
    python tests/benchmarks/facts_ab.py --baseline 2e125df --tenant bench-01 --rounds 5 \\
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store import verify, verify_facts, verify_registry  # noqa: E402
from aval.audit_store.migrate import SCHEMA  # noqa: E402
from aval.audit_store.verify_ranges import RangePass  # noqa: E402
from aval.verifier.chain_verifier import ChainVerifier  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds  # noqa: E402


def _load(commit: str, path: str, name: str, folder: Path) -> ModuleType:
    """A module as `commit` had it, loaded under `name`."""
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    file = folder / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(url: str, tenant: str, baseline: str, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aval-facts-ab-"))
    old_facts = _load(baseline, "aval/audit_store/verify_facts.py", "baseline_facts", folder)
    old_registry = _load(
        baseline, "aval/audit_store/verify_registry.py", "baseline_registry", folder
    )
    conns = [
        await psycopg.AsyncConnection.connect(url, options=f"-c search_path={SCHEMA}")
        for _ in range(3)
    ]
    pids = [c.info.backend_pid for c in conns]
    await conns[0].execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    snapshot = await verify.export_snapshot(conns[0])
    for conn in conns[1:]:
        await conn.execute("BEGIN")
        await verify.join_snapshot(conn, snapshot)
    cur = await conns[0].execute(
        "SELECT count(*) FROM audit_events WHERE tenant_id = %s", (tenant,)
    )
    events = int((await cur.fetchone() or (0,))[0])
    if not events:
        sys.exit(f"no events for {tenant}: run generate_trail.py first")
    verifier = ChainVerifier(tenant)
    ranges = RangePass(verifier, conns, tenant, verify.RANGE_SIZE)
    proven = verify.trail_states(await ranges.run(None, 10_000), verifier.last_state)

    async def baseline_pass() -> None:
        await old_facts.facts_findings(conns, tenant, proven)
        await old_registry.input_problems(conns[0], tenant)

    async def this_pass() -> None:
        found, _ = await verify_facts.facts_findings(conns, tenant, proven)
        ids = [f.decision_id for f in found if f.input_to_hash]
        await verify_registry.inputs_differing(conns[0], tenant, ids)

    figures: dict[str, list[tuple[float, float]]] = {"baseline": [], "this": []}
    print(f"{tenant}: {events:,} events; baseline {baseline}; {rounds} rounds in turns")
    for number in range(rounds):
        order = [("baseline", baseline_pass), ("this", this_pass)]
        for name, run in order if number % 2 == 0 else order[::-1]:
            cpu = sum(_cpu_seconds(p) for p in pids) + _own_cpu()
            began = time.perf_counter()
            await run()
            wall = time.perf_counter() - began
            used = sum(_cpu_seconds(p) for p in pids) + _own_cpu() - cpu
            figures[name].append((wall, used / events * 1e6))
            per_event = used / events * 1e6
            print(f"  round {number + 1} {name:8s}: {wall:5.2f} s, {per_event:5.2f} µs/event")
    for name, values in figures.items():
        walls, cpus = sorted(w for w, _ in values), sorted(c for _, c in values)
        print(
            f"{name:8s}: wall {walls[0]:.2f}/{statistics.median(walls):.2f}/{walls[-1]:.2f} s,"
            f" CPU {cpus[0]:.2f}/{statistics.median(cpus):.2f}/{cpus[-1]:.2f} µs/event"
            " (min/median/max)"
        )
    ratio = [t / b for (t, _), (b, _) in zip(figures["this"], figures["baseline"], strict=True)]
    cpu_ratio = [t / b for (_, t), (_, b) in zip(figures["this"], figures["baseline"], strict=True)]
    print(
        f"this / baseline, round by round: wall {min(ratio):.2f}–{max(ratio):.2f}"
        f" (median {statistics.median(ratio):.2f}), CPU {min(cpu_ratio):.2f}–{max(cpu_ratio):.2f}"
        f" (median {statistics.median(cpu_ratio):.2f})"
    )
    for conn in conns:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="the database generate_trail.py filled"
    )
    parser.add_argument("--tenant", default="bench-01")
    parser.add_argument("--baseline", default="2e125df", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.database_url, options.tenant, options.baseline, options.rounds))
