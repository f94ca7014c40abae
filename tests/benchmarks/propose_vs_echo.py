"""Propose through the real server against a bare grpc.aio echo server, same client, same run.

Starts `aval serve` on the PostgreSQL of AVAL_DATABASE_URL (embedded when unset) and, in another
process, a grpc.aio server that answers every Propose with a canned reply of the same size as
Aval's and does nothing else. One client drives both with the same concurrency over the same
number of connections; every proposal goes to one tenant (the worst case for its chain).
Afterwards the trail is verified and the decisions counted, so that every acknowledged Propose
is known to be committed and audited. CPU per call is read from /proc for each server
(workers included), for every PostgreSQL process on the machine, and for this client.

Echo and Propose are measured in alternating rounds (--rounds, 3 by default); the ratio is that
of the median rounds. Prints, last: propose_vs_echo_ratio=R propose_rps=N p50_ms=X p99_ms=Y
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import audit_pb2, audit_pb2_grpc, common_pb2, gateway_pb2, gateway_pb2_grpc  # noqa: E402
from tests.support import ServerProcess, token_of  # noqa: E402


def _request(key: str) -> gateway_pb2.ProposeRequest:
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement",
        subject_ref=f"usager:{key[:8]}",
        idempotency_key=key,
        attested_suggestion=common_pb2.Suggestion(
            confidence=0.9,
            explanation="termes: lampadaire (0.8), éteint (0.6)",
            model=common_pb2.ModelRef(name="triage-signalements", version="2026.11"),
        ),
    )
    request.input.update(
        {"texte": "Le lampadaire devant le 12 rue des Lilas est éteint", "canal": "formulaire"}
    )
    request.attested_suggestion.output.update({"service": "eclairage"})
    return request


def _run_echo(port_queue: multiprocessing.Queue[int], reply_size: int) -> None:
    async def main() -> None:
        reply = gateway_pb2.ProposeResponse()
        filler = reply_size
        for _ in range(4):  # pad until the reply is exactly as long as Aval's
            reply.decision.id = "x" * max(0, filler)
            filler -= reply.ByteSize() - reply_size
        canned = reply.SerializeToString()

        async def propose(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return canned

        handler = grpc.method_handlers_generic_handler(
            "aval.v1.Gateway", {"Propose": grpc.unary_unary_rpc_method_handler(propose)}
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        port_queue.put(port)
        await server.wait_for_termination()

    asyncio.run(main())


async def _drive(
    address: str, token: str, total: int, concurrency: int, connections: int
) -> tuple[float, list[float], int]:
    """Sends `total` proposals with `concurrency` in flight over `connections` connections.

    Returns the seconds taken, the latencies in ms, and the size of a reply in bytes.
    """
    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    sizes: list[int] = []
    counter = iter(range(total))
    # A local subchannel pool per channel: otherwise channels to one address share a connection.
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(connections)
    ]
    stubs = [gateway_pb2_grpc.GatewayStub(channel) for channel in channels]

    async def worker(stub: gateway_pb2_grpc.GatewayStub) -> None:
        for _ in counter:
            request = _request(str(uuid.uuid4()))
            began = time.perf_counter()
            reply = await stub.Propose(request, metadata=metadata, timeout=30)
            latencies.append((time.perf_counter() - began) * 1000)
            if not sizes:
                sizes.append(reply.ByteSize())

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker(stubs[i % connections]) for i in range(concurrency)))
        return time.perf_counter() - began, latencies, sizes[0]
    finally:
        for channel in channels:
            await channel.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of its children, live or waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    seconds = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        seconds += _cpu_seconds(int(child))
    return seconds


def _postgres_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (backends, WAL writer...), as far
    as /proc lets this user read it; backends that end meanwhile are not counted."""
    seconds = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = raw.partition(" (")[2].rpartition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _measure(
    name: str, address: str, token: str, pid: int, options: argparse.Namespace
) -> tuple[float, float, float]:
    """Drives one server; prints throughput, latency and the CPU per call of the server, of
    PostgreSQL and of this client."""
    cpu_before, pg_before, client_before = (
        _cpu_seconds(pid),
        _postgres_seconds(),
        time.process_time(),
    )
    seconds, latencies, _ = asyncio.run(
        _drive(address, token, options.requests, options.concurrency, options.connections)
    )
    calls = len(latencies)
    cpu_ms = (_cpu_seconds(pid) - cpu_before) * 1000 / calls
    pg_ms = (_postgres_seconds() - pg_before) * 1000 / calls
    client_ms = (time.process_time() - client_before) * 1000 / calls
    rps = calls / seconds
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{name}: {calls} calls in {seconds:.2f}s, {rps:.0f}/s, "
        f"p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, CPU per call: server {cpu_ms:.2f} ms, "
        f"PostgreSQL {pg_ms:.2f} ms, client {client_ms:.2f} ms",
        flush=True,
    )
    return rps, cuts[49], cuts[98]


async def _verify(address: str) -> tuple[bool, int]:
    metadata = (("authorization", f"Bearer {token_of('insp-a')}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await audit_pb2_grpc.AuditStub(channel).VerifyChain(
            audit_pb2.VerifyChainRequest(), metadata=metadata, timeout=600
        )
    return reply.ok, reply.decisions_checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4, help="client connections")
    parser.add_argument("--workers", type=int, default=1, help="aval serve --workers N")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate echo and propose this many times; the medians make the ratio",
    )
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aval-bench-", dir="/tmp"))
    database_url = os.environ.get("AVAL_DATABASE_URL", "")
    where = "configured PostgreSQL" if database_url else "embedded PostgreSQL"
    env = {
        "AVAL_WORKERS": str(options.workers),
        "AVAL_DATABASE_URL": database_url,
        # The server's default, not the tests' quick sweeps.
        "AVAL_EXPIRY_INTERVAL_SECONDS": "5",
    }
    server = ServerProcess.start(database_url, workdir, name="aval", extra_env=env)
    token = token_of("app-a")
    echo: multiprocessing.Process | None = None
    try:
        _, _, reply_size = asyncio.run(
            _drive(server.address, token, options.warmup, options.concurrency, options.connections)
        )
        port_queue: multiprocessing.Queue[int] = multiprocessing.Queue()
        echo = multiprocessing.Process(target=_run_echo, args=(port_queue, reply_size), daemon=True)
        echo.start()
        echo_address = f"127.0.0.1:{port_queue.get(timeout=30)}"
        print(
            f"aval ({options.workers} worker(s)) at {server.address} on the {where}; echo at "
            f"{echo_address}; replies of {reply_size} bytes; {options.requests} calls, "
            f"concurrency {options.concurrency}, {options.connections} connection(s), "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        asyncio.run(
            _drive(echo_address, token, options.warmup, options.concurrency, options.connections)
        )
        assert echo.pid is not None
        # Alternating rounds, so that a change of the machine's pace (other processes, CPU
        # frequency) weighs on both sides alike.
        echoes, proposes = [], []
        for _ in range(options.rounds):
            echoes.append(_measure("echo", echo_address, token, echo.pid, options))
            proposes.append(_measure("propose", server.address, token, server.process.pid, options))
        echo_rps = statistics.median(r for r, _, _ in echoes)
        rps, p50, p99 = sorted(proposes)[len(proposes) // 2]
        ok, decisions = asyncio.run(_verify(server.address))
        expected = options.requests * options.rounds + options.warmup
        print(
            f"trail verified: {ok}; decisions recorded: {decisions} (expected at least {expected})"
        )
        if not ok or decisions < expected:
            sys.exit("benchmark invalid: the trail does not account for every proposal")
    finally:
        server.stop()
        if echo is not None:
            echo.terminate()
    print(
        f"propose_vs_echo_ratio={rps / echo_rps:.2f} propose_rps={rps:.0f} "
        f"p50_ms={p50:.2f} p99_ms={p99:.2f}"
    )


if __name__ == "__main__":
    main()
