"""Propose with the tail signed (seals + a checkpoint every 2 s) against Propose without a key.

Starts two `aval serve` on two fresh databases of the PostgreSQL at --database-url, with the
same settings: one with a signing key (every append sealed in its transaction, the checkpointer
signing what is sealed every 2 s, the default), one without (no seal, no checkpoint). The same
client drives both in interleaved rounds, the order swapped every round (off-on, on-off, ...),
so that a change of the machine's pace weighs on both alike.

Each round measures the throughput and the CPU per call of the server process (threads and
children) and of the PostgreSQL backends connected to its database (read from /proc; the
machine's other PostgreSQL processes, shared with whatever else runs, are left out). After the
calls of a signed round, the CPU reading waits until a checkpoint covers every event, so that
the round pays for the signing of what it appended; both sides wait the same minimum time.
Afterwards the signed trail is verified in strict mode: every event sealed and signed.

Prints min / median / max over the rounds for each side and the ratios signed / unsigned, of
the medians and per round, then, last:
tail_signing_cpu_ratio=R tail_signing_rps_ratio=R on_cpu_ms=X off_cpu_ms=Y on_rps=N off_rps=N
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds, _drive  # noqa: E402
from tests.support import ServerProcess, token_of  # noqa: E402

# Both sides wait at least this long after their calls before the CPU is read; the signed one
# also until a checkpoint covers its last event (a checkpoint every 2 s, jittered by 10 %).
_SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class Round:
    """One round of one server."""

    rps: float
    server_ms: float  # CPU per call of the server process
    pg_ms: float  # CPU per call of the PostgreSQL backends of its database
    p50_ms: float
    p99_ms: float

    @property
    def cpu_ms(self) -> float:
        return self.server_ms + self.pg_ms


@dataclass
class Side:
    """One server under test and what the benchmark reads of it."""

    name: str
    server: ServerProcess
    dbname: str
    signed: bool


def _fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def _backend_seconds(admin: psycopg.Connection[tuple[int]], dbname: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to `dbname`, by pid."""
    pids = [
        row[0]
        for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )
    ]
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _signed_up_to_head(admin_url: str, dbname: str) -> bool:
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=dbname)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce((SELECT sum(seq) FROM aval.chain_heads), 0)"
            " = coalesce((SELECT sum(m) FROM (SELECT max(tree_size) AS m FROM aval.checkpoints"
            "   GROUP BY tenant_id) AS c), 0)"
        ).fetchone()
    return bool(row and row[0])


def _measure(
    side: Side,
    admin: psycopg.Connection[tuple[int]],
    admin_url: str,
    token: str,
    options: argparse.Namespace,
) -> Round:
    pid = side.server.process.pid
    server_before = _cpu_seconds(pid)
    pg_before = _backend_seconds(admin, side.dbname)
    seconds, latencies, _ = asyncio.run(
        _drive(
            side.server.address, token, options.requests, options.concurrency, options.connections
        )
    )
    settled = time.monotonic() + _SETTLE_SECONDS
    deadline = settled + 30
    while time.monotonic() < settled or (
        side.signed
        and not _signed_up_to_head(admin_url, side.dbname)
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    calls = len(latencies)
    server_ms = (_cpu_seconds(pid) - server_before) * 1000 / calls
    pg_after = _backend_seconds(admin, side.dbname)
    # A backend that started during the round counts from 0; one that ended is lost (the
    # pools keep their connections for an hour).
    pg_ms = sum(s - pg_before.get(p, 0.0) for p, s in pg_after.items()) * 1000 / calls
    cuts = statistics.quantiles(latencies, n=100)
    result = Round(calls / seconds, server_ms, pg_ms, cuts[49], cuts[98])
    print(
        f"{side.name:>8}: {calls} calls in {seconds:.2f}s, {result.rps:.0f}/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, CPU per call: "
        f"server {server_ms:.3f} ms + PostgreSQL {pg_ms:.3f} ms = {result.cpu_ms:.3f} ms",
        flush=True,
    )
    return result


async def _verify(address: str) -> audit_pb2.VerifyChainResponse:
    metadata = (("authorization", f"Bearer {token_of('insp-a')}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        reply: audit_pb2.VerifyChainResponse = await audit_pb2_grpc.AuditStub(channel).VerifyChain(
            audit_pb2.VerifyChainRequest(strict=True), metadata=metadata, timeout=600
        )
    return reply


def _spread(values: list[float], unit: str, digits: int) -> str:
    return (
        f"min {min(values):.{digits}f} / median {statistics.median(values):.{digits}f} / "
        f"max {max(values):.{digits}f}{unit}"
    )


def _report(signed: list[Round], unsigned: list[Round]) -> None:
    for name, rounds in (("signed", signed), ("unsigned", unsigned)):
        print(
            f"{name:>8}: throughput {_spread([r.rps for r in rounds], '/s', 0)}; CPU per call "
            f"server {_spread([r.server_ms for r in rounds], ' ms', 3)}, "
            f"PostgreSQL {_spread([r.pg_ms for r in rounds], ' ms', 3)}, "
            f"both {_spread([r.cpu_ms for r in rounds], ' ms', 3)}"
        )
    pairs = list(zip(signed, unsigned, strict=True))
    rps_ratios = [s.rps / u.rps for s, u in pairs]
    cpu_ratios = [s.cpu_ms / u.cpu_ms for s, u in pairs]
    print(f"round ratios signed / unsigned, throughput: {_spread(rps_ratios, '', 3)}")
    print(f"round ratios signed / unsigned, CPU per call (both): {_spread(cpu_ratios, '', 3)}")
    for what, key in (("server", "server_ms"), ("PostgreSQL", "pg_ms")):
        on = statistics.median(getattr(r, key) for r in signed)
        off = statistics.median(getattr(r, key) for r in unsigned)
        print(
            f"medians, CPU per call of {what}: signed {on:.3f} ms, unsigned {off:.3f} ms, "
            f"ratio {on / off:.3f}"
        )
    on_cpu = statistics.median(r.cpu_ms for r in signed)
    off_cpu = statistics.median(r.cpu_ms for r in unsigned)
    on_rps = statistics.median(r.rps for r in signed)
    off_rps = statistics.median(r.rps for r in unsigned)
    print(
        f"tail_signing_cpu_ratio={on_cpu / off_cpu:.3f} tail_signing_rps_ratio="
        f"{on_rps / off_rps:.3f} on_cpu_ms={on_cpu:.3f} off_cpu_ms={off_cpu:.3f} "
        f"on_rps={on_rps:.0f} off_rps={off_rps:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4, help="client connections")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aval-bench-signing-", dir="/tmp"))
    # The same settings on both sides (the server's defaults, not the tests' quick sweeps).
    env = {"AVAL_EXPIRY_INTERVAL_SECONDS": "5", "AVAL_CHECKPOINT_INTERVAL_SECONDS": "2"}
    on_url = _fresh_database(options.database_url, "aval_bench_signing_on")
    off_url = _fresh_database(options.database_url, "aval_bench_signing_off")
    on = Side(
        "signed",
        ServerProcess.start(on_url, workdir / "on", name="on", extra_env=env),
        "aval_bench_signing_on",
        signed=True,
    )
    off = Side(
        "unsigned",
        ServerProcess.start(off_url, workdir / "off", name="off", extra_env=env, signing_key=False),
        "aval_bench_signing_off",
        signed=False,
    )
    token = token_of("app-a")
    signed: list[Round] = []
    unsigned: list[Round] = []
    try:
        with psycopg.connect(options.database_url, autocommit=True) as admin:
            for side in (on, off):
                asyncio.run(
                    _drive(
                        side.server.address,
                        token,
                        options.warmup,
                        options.concurrency,
                        options.connections,
                    )
                )
            print(
                f"{options.requests} calls a round, concurrency {options.concurrency}, "
                f"{options.connections} connection(s), one tenant, {options.rounds} rounds "
                f"a side, {os.cpu_count()} CPUs",
                flush=True,
            )
            for n in range(options.rounds):
                order = (off, on) if n % 2 == 0 else (on, off)
                for side in order:
                    found = _measure(side, admin, options.database_url, token, options)
                    (signed if side.signed else unsigned).append(found)
        report = asyncio.run(_verify(on.server.address))
        print(
            f"signed trail: ok={report.ok} events={report.events_checked} "
            f"signed={report.signed_events} unsigned={report.unsigned_events}"
        )
        if not report.ok or report.unsigned_events:
            sys.exit(f"benchmark invalid: {[(p.kind, p.seq) for p in report.problems]}")
    finally:
        on.server.stop()
        off.server.stop()
    _report(signed, unsigned)


if __name__ == "__main__":
    main()
