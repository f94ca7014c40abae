"""One gateway whose ville-a has a decision type per hostile answer, shared by the probes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest

from aval.clients import Client
from aval.v1 import advisor_pb2_grpc
from tests.support import POLICIES, ServerProcess, token_of, write_egress

from .hostile import ADVISOR_PLACES, FREE_SCHEMA, HOSTILE_ANSWERS, HostileAdvisor, HostileAI, _type

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="package")
def hostile_ai() -> Iterator[HostileAI]:
    server = HostileAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="package")
def hostile_advisor() -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(HostileAdvisor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


@pytest.fixture(scope="package")
def gateway(
    new_database: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
    hostile_ai: HostileAI,
    hostile_advisor: int,
) -> Iterator[ServerProcess]:
    """A gateway whose ville-a has one decision type per hostile answer."""
    folder = tmp_path_factory.mktemp("e2e-redteam")
    policies = folder / "hostile-policies"
    policies.mkdir()
    names = [*HOSTILE_ANSWERS, *(f"advisor-{p.replace('_', '-')}" for p in ADVISOR_PLACES)]
    extra = "".join(
        f"  {_type(b)}:\n"
        '    purpose: "tester les réponses hostiles"\n'
        "    required_approvals: 1\n"
        "    deadline: 3d\n"
        f"    ai_system: ia-{b}\n"
        f"    output_schema: {json.dumps(FREE_SCHEMA)}\n"
        for b in names
    )
    (policies / "ville-a.yaml").write_text(POLICIES["ville-a"] + extra, encoding="utf-8")
    egress = {
        "tenants": {
            "ville-a": {
                "endpoints": [
                    {"network": "127.0.0.1/32", "ports": [hostile_ai.port, hostile_advisor]}
                ]
            }
        }
    }
    process = ServerProcess.start(
        new_database(),
        folder,
        name="redteam",
        extra_env={
            "AVAL_POLICY_DIR": str(policies),
            "AVAL_AI_EGRESS_FILE": str(write_egress(folder / "egress", egress)),
        },
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="package")
def as_(gateway: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(gateway.address, token_of(principal), timeout=30)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()
