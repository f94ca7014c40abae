"""What a bare grpc.aio server costs per Propose, before any of Aval's work.

Runs, in turn, two servers that do nothing but answer Propose: one returns canned bytes (the
echo of ``propose_vs_echo.py``), the other parses the request and serializes a reply of the
same shape as Aval's. The same client as ``propose_vs_echo.py`` drives each; prints calls per
second and the CPU per call of the server and of the client. Subtracting these from the CPU per
call that ``propose_vs_echo.py`` prints for Aval shows what Aval's own work costs.

Example:
    python tests/benchmarks/grpc_floor.py --requests 8000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.v1 import gateway_pb2  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds, _drive  # noqa: E402


def _reply() -> gateway_pb2.ProposeResponse:
    reply = gateway_pb2.ProposeResponse()
    d = reply.decision
    d.id = "6a1f0f5e-1c1b-4d4e-9c44-3f4b2a3d9e10"
    d.tenant = "ville-a"
    d.decision_type = "voirie.signalement"
    d.subject_ref = "usager:12345678"
    d.input.update({"texte": "Le lampadaire devant le 12 rue des Lilas est éteint"})
    d.suggestion.output.update({"service": "eclairage"})
    d.suggestion.confidence = 0.9
    d.suggestion.model.name = "triage-signalements"
    d.suggestion.model.version = "2026.11"
    for stamp in (d.created_at, d.updated_at, d.deadline):
        stamp.GetCurrentTime()
    return reply


def _serve(port_queue: multiprocessing.Queue[int], parse: bool) -> None:
    async def main() -> None:
        reply = _reply()
        canned = reply.SerializeToString()

        async def propose(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            if not parse:
                return canned
            received = gateway_pb2.ProposeRequest.FromString(request)
            answer = gateway_pb2.ProposeResponse()
            answer.CopyFrom(reply)
            answer.decision.subject_ref = received.subject_ref
            return answer.SerializeToString()

        handler = grpc.method_handlers_generic_handler(
            "aval.v1.Gateway", {"Propose": grpc.unary_unary_rpc_method_handler(propose)}
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port_queue.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    for _ in range(options.rounds):
        for parse in (False, True):
            port_queue: multiprocessing.Queue[int] = multiprocessing.Queue()
            server = multiprocessing.Process(target=_serve, args=(port_queue, parse), daemon=True)
            server.start()
            assert server.pid is not None
            address = f"127.0.0.1:{port_queue.get(timeout=30)}"
            try:
                asyncio.run(_drive(address, "-", 500, options.concurrency, options.connections))
                server_before, client_before = _cpu_seconds(server.pid), time.process_time()
                seconds, latencies, _ = asyncio.run(
                    _drive(address, "-", options.requests, options.concurrency, options.connections)
                )
                calls = len(latencies)
                server_ms = (_cpu_seconds(server.pid) - server_before) * 1000 / calls
                client_ms = (time.process_time() - client_before) * 1000 / calls
                name = "parse and serialize" if parse else "canned bytes"
                print(
                    f"{name}: {calls / seconds:.0f}/s, CPU per call: server {server_ms:.3f} ms,"
                    f" client {client_ms:.3f} ms",
                    flush=True,
                )
            finally:
                server.terminate()


if __name__ == "__main__":
    main()
