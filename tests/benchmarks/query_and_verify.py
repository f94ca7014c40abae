"""Times filtered QueryEvents pages and VerifyChain through the real server on a generated trail.

Starts ``aval serve`` (``tests/support.py``'s ServerProcess) on the database that
``generate_trail.py`` filled, with a policy for each of its tenants ``bench-NN`` and a pooled
inspector granted all of them. Then, one call at a time:

1. a warm-up mix, then the first time-filtered page of each tenant (the server process then
   summarises the tenant's times by block of sequence numbers, once: printed apart);
2. a mix of filtered ``QueryEvents`` pages of 100 events: one tenant or several, every filter
   of the contract alone and combined, first pages and pages further on (following the
   tokens). Prints p50/p95/p99 in ms of each call, and of each "page of 100": the calls it
   takes to get 100 events (a page may come back short, see ``audit_store/queries.py``);
3. ``VerifyChain`` of one tenant, twice, then ``VerifyTrail`` (the same, streaming its
   progress); prints events per second, and the CPU seconds the aval server process and the
   PostgreSQL backends of the database spent (when PostgreSQL runs on this machine). With
   ``--all-tenants``, instead, every tenant once, one after the other (the whole trail, each
   event read once): events per second over all, and per tenant.

The server has the tests' signing key (and no periodic checkpoints). With ``--checkpoint``, a
checkpoint of each verified tenant is signed first, so that verification also rebuilds its
Merkle tree; it stays in the database, and verifies with the same key on later runs.

Example:
    python tests/benchmarks/query_and_verify.py \
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench --pages 600
    python tests/benchmarks/query_and_verify.py --no-queries --checkpoint \
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
    python tests/benchmarks/query_and_verify.py --no-queries --checkpoint --all-tenants \
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import audit_pb2_grpc  # noqa: E402
from tests.benchmarks.audit_calls import (  # noqa: E402
    CpuMeter,
    Mix,
    first_time_queries,
    run_mix,
    run_verify,
    run_verify_all,
    sign_checkpoint,
    write_config,
)
from tests.support import ServerProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", required=True, help="the database generate_trail.py filled"
    )
    parser.add_argument("--pages", type=int, default=600, help="pages of 100 to time (600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verify-tenant", default="", help="the tenant to verify (the first)")
    parser.add_argument("--no-verify", action="store_true", help="time the queries only")
    parser.add_argument("--no-queries", action="store_true", help="time the verification only")
    parser.add_argument(
        "--checkpoint", action="store_true", help="sign a checkpoint of the tenant(s) first"
    )
    parser.add_argument(
        "--all-tenants", action="store_true", help="verify every tenant once instead of one"
    )
    options = parser.parse_args()
    rng = random.Random(options.seed)
    mix = Mix(options.database_url, rng)
    if not mix.tenants:
        sys.exit("no trail in that database: run generate_trail.py first")
    workdir = Path(tempfile.mkdtemp(prefix="aval-bench-", dir="/tmp"))
    env = write_config(workdir, mix.tenants)
    env["AVAL_CHECKPOINT_INTERVAL_SECONDS"] = "0"  # no background work during the timings
    env["AVAL_AI_EGRESS_FILE"] = ""  # the bench tenants call no AI system: none allowed
    server = ServerProcess.start(options.database_url, workdir, name="aval", extra_env=env)
    print(f"aval at {server.address}: {len(mix.tenants)} tenants", flush=True)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = audit_pb2_grpc.AuditStub(channel)
            if not options.no_queries:
                print("Warm-up:")
                run_mix(stub, mix, max(options.pages // 10, 1), random.Random(options.seed + 1))
                first_time_queries(stub, mix)
                print("Measured:")
                run_mix(stub, mix, options.pages, rng)
            if not options.no_verify:
                tenants = (
                    mix.tenants
                    if options.all_tenants
                    else [options.verify_tenant or mix.tenants[0]]
                )
                if options.checkpoint:
                    for tenant in tenants:
                        sign_checkpoint(stub, tenant)
                meter = CpuMeter(options.database_url, server.process.pid)
                if options.all_tenants:
                    run_verify_all(stub, tenants, meter)
                else:
                    run_verify(stub, tenants[0], meter)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
