"""The server's memory under a flood of large unauthenticated requests (issue 10, item 3).

Starts `aval serve` (tests/support.py's ServerProcess) on the PostgreSQL of AVAL_DATABASE_URL
(an embedded one when unset), measures its resident memory once it has answered a few ordinary
calls (the baseline), then sends --requests Propose calls of --size bytes each with no token,
--concurrency at a time over --connections connections to the loopback address, every call
bounded by --timeout seconds (--method floods another RPC, e.g. the health check that needs
no token; --principal sends a test principal's token). While they run, the resident memory of
the server and of its children (worker processes; never PostgreSQL's) is sampled from /proc
every few milliseconds; afterwards it is sampled until it settles (--settle seconds at most).
Prints the baseline, peak and settled figures, the kernel's own high-water mark (VmHWM), how
the calls ended, and PASS or FAIL against: peak under --peak-limit MB, settled within
--settled-margin of the baseline.

Examples:
    python tests/benchmarks/memory_flood.py            # 800 requests of 3.9 MB, no token
    python tests/benchmarks/memory_flood.py --method /grpc.health.v1.Health/Check --size 1000000
    python tests/benchmarks/memory_flood.py --principal app-a --size 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import gateway_pb2  # noqa: E402
from tests.support import ServerProcess, token_of  # noqa: E402

PROPOSE = "/aval.v1.Gateway/Propose"
GET_DECISION = "/aval.v1.Gateway/GetDecision"


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _family(pid: int) -> list[int]:
    """The server and its descendants, PostgreSQL's processes left out (they are the database's
    memory, not the server's)."""
    family, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current != pid and _is_postgres(current):
            continue
        family.append(current)
        todo += _children(current)
    return family


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children, in MB (10^6 bytes)."""
    return sum(_status_kb(p, "VmRSS") for p in _family(pid)) * 1024 / 1e6


def hwm_mb(pid: int) -> float:
    """The kernel's high-water mark of resident memory of the same processes, in MB."""
    return sum(_status_kb(p, "VmHWM") for p in _family(pid)) * 1024 / 1e6


class Sampler:
    """Samples `rss_mb` in a thread until stopped; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.01) -> None:
        self.pid, self.period, self.peak = pid, period, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(self.period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def large_request(size: int) -> bytes:
    """A serialized ProposeRequest of about `size` bytes: one long string in its input."""
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement",
        subject_ref="usager:flood",
        idempotency_key="flood",
    )
    request.input.update({"texte": "x" * size})
    return request.SerializeToString()


async def flood(
    address: str,
    payload: bytes,
    requests: int,
    concurrency: int,
    connections: int,
    seconds_per_call: float,
    method: str = PROPOSE,
    token: str | None = None,
) -> collections.Counter[str]:
    """Sends `requests` copies of `payload` to `method` (with `token`, if any); counts the
    outcomes by status code."""
    outcomes: collections.Counter[str] = collections.Counter()
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    channels = [
        # Distinct channel arguments keep the connections apart (no subchannel sharing).
        grpc.aio.insecure_channel(address, options=[*options, ("aval.bench.connection", i)])
        for i in range(connections)
    ]
    calls = [
        channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for channel in channels
    ]
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            try:
                await calls[i % connections](payload, metadata=metadata, timeout=seconds_per_call)
                outcomes["OK"] += 1
            except grpc.aio.AioRpcError as err:
                outcomes[err.code().name] += 1

    try:
        await asyncio.gather(*(one(i) for i in range(requests)))
    finally:
        for channel in channels:
            await channel.close()
    return outcomes


async def ordinary_calls(address: str, count: int) -> None:
    """A few authenticated calls: the server's code paths loaded, its pools warm."""
    metadata = (("authorization", f"Bearer {token_of('app-a')}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        get = channel.unary_unary(GET_DECISION, request_serializer=None, response_deserializer=None)
        request = gateway_pb2.GetDecisionRequest(
            decision_id="00000000-0000-4000-8000-000000000000"
        ).SerializeToString()
        for _ in range(count):
            try:
                await get(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:
                    raise


def settle(pid: int, seconds: float) -> float:
    """Samples until the memory stops falling (no new low for 3 s) or `seconds` pass."""
    deadline = time.monotonic() + seconds
    low, low_at = rss_mb(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - low_at < 3:
        time.sleep(0.25)
        now = rss_mb(pid)
        if now < low - 0.5:
            low, low_at = now, time.monotonic()
    return rss_mb(pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--size", type=int, default=3_900_000, help="bytes per request")
    parser.add_argument("--concurrency", type=int, default=200, help="calls in flight at once")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait at most")
    parser.add_argument("--peak-limit", type=float, default=300.0, help="MB")
    parser.add_argument("--settled-margin", type=float, default=0.20, help="of the baseline")
    parser.add_argument("--method", default=PROPOSE, help="e.g. /grpc.health.v1.Health/Check")
    parser.add_argument(
        "--principal", help="send the token of this test principal (e.g. app-a): no token if unset"
    )
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aval-flood-", dir="/tmp"))
    database_url = os.environ.get("AVAL_DATABASE_URL", "")
    env = {"AVAL_DATABASE_URL": database_url, "AVAL_EXPIRY_INTERVAL_SECONDS": "5"}
    server = ServerProcess.start(database_url, workdir, name="aval", extra_env=env)
    pid = server.process.pid
    try:
        asyncio.run(ordinary_calls(server.address, 20))
        time.sleep(1)
        baseline = rss_mb(pid)
        payload = large_request(options.size)
        who = f"as {options.principal}" if options.principal else "without a token"
        print(
            f"server pid {pid} at {server.address} on the "
            f"{'configured' if database_url else 'embedded'} PostgreSQL; baseline "
            f"{baseline:.1f} MB; flooding {options.method} with {options.requests} requests of "
            f"{len(payload) / 1e6:.2f} MB {who}, {options.concurrency} at a time over "
            f"{options.connections} connections",
            flush=True,
        )
        started = time.monotonic()
        with Sampler(pid) as sampler:
            outcomes = asyncio.run(
                flood(
                    server.address,
                    payload,
                    options.requests,
                    options.concurrency,
                    options.connections,
                    options.timeout,
                    options.method,
                    token_of(options.principal) if options.principal else None,
                )
            )
        elapsed = time.monotonic() - started
        peak = sampler.peak
        settled = settle(pid, options.settle)
        hwm = hwm_mb(pid)
        asyncio.run(ordinary_calls(server.address, 1))  # it still answers
    finally:
        server.stop()
    ok_peak = peak < options.peak_limit
    ok_settled = settled <= baseline * (1 + options.settled_margin)
    ended = ", ".join(f"{code} {count}" for code, count in outcomes.most_common())
    print(f"flood took {elapsed:.1f}s; calls ended: {ended}")
    print(
        f"baseline_mb={baseline:.1f} peak_mb={peak:.1f} settled_mb={settled:.1f} "
        f"vmhwm_mb={hwm:.1f} settled_vs_baseline={settled / baseline - 1:+.1%}"
    )
    verdict = "PASS" if ok_peak and ok_settled else "FAIL"
    print(
        f"{verdict}: peak {peak:.1f} MB {'<' if ok_peak else '>='} {options.peak_limit:.0f} MB; "
        f"settled {settled:.1f} MB {'within' if ok_settled else 'beyond'} "
        f"{options.settled_margin:.0%} of the baseline {baseline:.1f} MB"
    )
    if verdict == "FAIL":
        sys.exit(1)


if __name__ == "__main__":
    main()
