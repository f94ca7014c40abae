"""Propose with the tail signed (seals + a checkpoint every 2 s) against Propose without a key.

Starts two `aval serve` on two fresh databases of the PostgreSQL at --database-url: one with a
signing key (every append sealed in its transaction, the checkpointer signing what is sealed
every 2 s, the default), one without (no seal, no checkpoint). The same client drives both,
alternating rounds (`propose_vs_echo._measure`: throughput, latency, CPU per call of the
server, of every PostgreSQL process and of the client). Afterwards the signed one is verified
in strict mode once its signer caught up: every event sealed and signed.

Prints, last: tail_signing_ratio=R (median rounds, signed / unsigned) on_rps=N off_rps=N
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402
from tests.benchmarks.propose_vs_echo import _drive, _measure  # noqa: E402
from tests.support import ServerProcess, token_of  # noqa: E402


def _fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


async def _verify(address: str) -> audit_pb2.VerifyChainResponse:
    metadata = (("authorization", f"Bearer {token_of('insp-a')}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        reply: audit_pb2.VerifyChainResponse = await audit_pb2_grpc.AuditStub(channel).VerifyChain(
            audit_pb2.VerifyChainRequest(strict=True), metadata=metadata, timeout=600
        )
    return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4, help="client connections")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aval-bench-signing-", dir="/tmp"))
    env = {"AVAL_EXPIRY_INTERVAL_SECONDS": "5", "AVAL_CHECKPOINT_INTERVAL_SECONDS": "2"}
    on_url = _fresh_database(options.database_url, "aval_bench_signing_on")
    off_url = _fresh_database(options.database_url, "aval_bench_signing_off")
    on = ServerProcess.start(on_url, workdir / "on", name="on", extra_env=env)
    off = ServerProcess.start(off_url, workdir / "off", name="off", signing_key=False)
    token = token_of("app-a")
    try:
        for server in (on, off):
            asyncio.run(
                _drive(
                    server.address, token, options.warmup, options.concurrency, options.connections
                )
            )
        print(
            f"{options.requests} calls a round, concurrency {options.concurrency}, "
            f"{options.connections} connection(s), one tenant",
            flush=True,
        )
        signed, unsigned = [], []
        for _ in range(options.rounds):
            unsigned.append(_measure("unsigned", off.address, token, off.process.pid, options))
            signed.append(_measure("signed", on.address, token, on.process.pid, options))
        deadline = time.monotonic() + 60
        report = asyncio.run(_verify(on.address))
        while report.unsigned_events and time.monotonic() < deadline:
            time.sleep(0.5)
            report = asyncio.run(_verify(on.address))
        print(
            f"signed trail: ok={report.ok} events={report.events_checked} "
            f"signed={report.signed_events} unsigned={report.unsigned_events}"
        )
        if not report.ok:
            sys.exit(f"benchmark invalid: {[(p.kind, p.seq) for p in report.problems]}")
    finally:
        on.stop()
        off.stop()
    on_rps = statistics.median(r for r, _, _ in signed)
    off_rps = statistics.median(r for r, _, _ in unsigned)
    ratios = [s[0] / u[0] for s, u in zip(signed, unsigned, strict=True)]
    print(f"round ratios (signed / unsigned): {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"tail_signing_ratio={on_rps / off_rps:.3f} on_rps={on_rps:.0f} off_rps={off_rps:.0f}")


if __name__ == "__main__":
    main()
