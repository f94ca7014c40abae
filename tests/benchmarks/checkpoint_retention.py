"""Online verification with a day's checkpoints (one every 2 s) before and after the retention
rule thins them (docs/signing.md), through the real server, in the same run.

Makes a fresh database on the server of ``--database-url`` (a superuser's), fills one tenant's
trail with ``trail_writer`` (``--events``), then signs ``--checkpoints`` checkpoints of it with
the tests' key, ``--interval`` seconds apart and ending now, as the checkpointer would have
(roots from one Merkle frontier, each line also in the witness file). Starts ``aval serve`` on
it with thinning off and times ``VerifyChain`` (a warm-up, then ``--runs`` runs: wall time, CPU
of the aval process and of the PostgreSQL backends). Restarts it with thinning on, waits for
one pass, and times the same again. Prints checkpoints, witness file size, and the ratios.
The database is dropped at the end.

Example:
    python tests/benchmarks/checkpoint_retention.py \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
from psycopg import conninfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store.migrate import migrate  # noqa: E402
from aval.service.audit.checkpointing import sign_checkpoint  # noqa: E402
from aval.service.audit.witness_file import witness_line  # noqa: E402
from aval.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402
from aval.verifier import merkle  # noqa: E402
from tests.benchmarks.audit_calls import TOKEN, CpuMeter, write_config  # noqa: E402
from tests.benchmarks.trail_writer import TenantWriter  # noqa: E402
from tests.support import TEST_SIGNING_KEY, ServerProcess  # noqa: E402

_COLUMNS = (
    "tenant_id, tree_size, root_hash, head_hash, issued_at, key_id, signed_note, signature, "
    "frontier, note_key_name, note_key_hash"
)


def _sign_checkpoints(url: str, tenant: str, count: int, interval: float, witness: Path) -> int:
    """Signs `count` checkpoints spread over the trail, `interval` s apart, ending now."""
    with psycopg.connect(url) as conn, psycopg.connect(url) as reader:
        events = conn.execute(
            "SELECT seq FROM aval.chain_heads WHERE tenant_id = %s", (tenant,)
        ).fetchone()
        assert events is not None
        total = int(events[0])
        sizes = {max(1, total * (i + 1) // count) for i in range(count)}
        now = datetime.now(UTC)
        frontier, made = merkle.Frontier(), 0
        witness.parent.mkdir(parents=True, exist_ok=True)
        with (
            reader.cursor(name="events") as events_cur,
            conn.cursor() as copy_cur,
            witness.open("wb") as lines,
            copy_cur.copy(f"COPY aval.checkpoints ({_COLUMNS}) FROM STDIN") as copy,
        ):
            events_cur.execute(
                "SELECT seq, canonical, hash FROM aval.audit_events WHERE tenant_id = %s"
                " ORDER BY seq",
                (tenant,),
            )
            for seq, canonical, hash_ in events_cur:
                frontier.append(merkle.leaf_hash(bytes(canonical)))
                if seq not in sizes:
                    continue
                made += 1
                at = now - timedelta(seconds=interval * (len(sizes) - made))
                record = sign_checkpoint(
                    TEST_SIGNING_KEY,
                    tenant,
                    seq,
                    frontier.root(),
                    bytes(hash_),
                    frontier.to_bytes(),
                    at,
                    name=f"aval-{TEST_SIGNING_KEY.key_id}",
                )
                copy.write_row(
                    (
                        tenant,
                        record.tree_size,
                        record.root_hash,
                        record.head_hash,
                        record.issued_at,
                        record.key_id,
                        record.signed_note,
                        record.signature,
                        record.frontier,
                        record.note_key_name,
                        record.note_key_hash,
                    )
                )
                lines.write(witness_line(record))
        conn.commit()
    return made


def _verify(server: ServerProcess, url: str, tenant: str, runs: int, label: str) -> float:
    """Times VerifyChain `runs` times after a warm-up; returns the median wall seconds."""
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    meter = CpuMeter(url, server.process.pid)
    timings = []
    with grpc.insecure_channel(server.address) as channel:
        stub = audit_pb2_grpc.AuditStub(channel)
        request = audit_pb2.VerifyChainRequest(tenant=tenant, strict=True)
        stub.VerifyChain(request, metadata=metadata, timeout=3600)  # warm-up
        for run in range(1, runs + 1):
            meter.start()
            began = time.perf_counter()
            reply = stub.VerifyChain(request, metadata=metadata, timeout=3600)
            seconds = time.perf_counter() - began
            timings.append(seconds)
            print(
                f"{label} run {run}: ok={reply.ok}, {reply.events_checked:,} events, "
                f"{reply.checkpoints_checked:,} checkpoints in {seconds:.2f}s; "
                f"{meter.stop(reply.events_checked)}",
                flush=True,
            )
            for problem in reply.problems[:3]:
                print(f"  {problem.kind} seq {problem.seq}: {problem.detail}")
    return sorted(timings)[len(timings) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a superuser's URL")
    parser.add_argument("--events", type=int, default=100_000, help="events (100000)")
    parser.add_argument("--checkpoints", type=int, default=50_000, help="checkpoints (50000)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between them (2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs each way (3)")
    options = parser.parse_args()
    name = f"aval_bench_retention_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(options.database_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = conninfo.make_conninfo(options.database_url, dbname=name)
    workdir = Path(tempfile.mkdtemp(prefix="aval-bench-retention-", dir="/tmp"))
    witness = workdir / "witness" / "checkpoints.jsonl"
    try:
        asyncio.run(migrate(url))
        began = time.perf_counter()
        tenant, events = TenantWriter(1, options.events, 1, timedelta(days=2)).run(
            url, queue.SimpleQueue()
        )
        made = _sign_checkpoints(url, tenant, options.checkpoints, options.interval, witness)
        with psycopg.connect(url, autocommit=True) as conn:  # as generate_trail.py does
            for table in ("audit_events", "decisions", "reviews", "chain_heads", "checkpoints"):
                conn.execute(f"VACUUM (ANALYZE) aval.{table}")
        print(
            f"{events:,} events and {made:,} checkpoints of {tenant} made in "
            f"{time.perf_counter() - began:.1f}s; witness file {witness.stat().st_size:,} bytes",
            flush=True,
        )
        env = write_config(workdir, [tenant])
        env.update(
            AVAL_CHECKPOINT_INTERVAL_SECONDS="0",
            AVAL_AI_EGRESS_FILE="",
            AVAL_WITNESS_FILE=str(witness),
            AVAL_CHECKPOINT_THINNING_INTERVAL_SECONDS="0",
        )
        server = ServerProcess.start(url, workdir, name="before", extra_env=env)
        try:
            before = _verify(server, url, tenant, options.runs, "before thinning")
        finally:
            server.stop()
        env["AVAL_CHECKPOINT_THINNING_INTERVAL_SECONDS"] = "1"
        server = ServerProcess.start(url, workdir, name="after", extra_env=env)
        try:
            deadline = time.monotonic() + 600
            while "checkpoint retention:" not in server.log_path.read_text():
                if time.monotonic() > deadline:
                    sys.exit("no thinning pass within 600 s")
                time.sleep(0.2)
            line = next(
                text
                for text in server.log_path.read_text().splitlines()
                if "checkpoint retention:" in text
            )
            print(line.split("checkpoint retention:", 1)[1].strip(), flush=True)
            print(f"witness file after: {witness.stat().st_size:,} bytes", flush=True)
            after = _verify(server, url, tenant, options.runs, "after thinning")
        finally:
            server.stop()
        print(
            f"VerifyChain median: {before:.2f}s before, {after:.2f}s after thinning "
            f"({before / after:.1f}x faster)",
            flush=True,
        )
    finally:
        with psycopg.connect(options.database_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
