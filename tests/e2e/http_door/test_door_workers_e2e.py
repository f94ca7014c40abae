"""`aval serve --workers 2` with the door: each worker serves its own door on the shared port,
reaching its own gRPC server by its own Unix socket; all behave as one service."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support import ServerProcess

from .conftest import Http
from .test_door_flow_e2e import proposal

pytestmark = pytest.mark.e2e


def test_every_worker_serves_the_door(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess.start(
        database_url,
        tmp_path,
        name="door-workers",
        extra_env={"AVAL_WORKERS": "2", "AVAL_HTTP_LISTEN": "127.0.0.1:0"},
    )
    try:
        door = Http(server.read_exports(1)["AVAL_HTTP_ADDRESS"])
        sockets = tmp_path / "data" / "sockets"
        assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
        assert len(list(sockets.glob("grpc-*.sock"))) == 2
        ids = set()
        for _ in range(8):  # a new connection each: the kernel spreads them over the workers
            answer = door.call("/aval.v1.Gateway/Propose", proposal(), "app-a")
            assert answer.status == 200, answer.body
            ids.add(answer.json["decision"]["id"])
        for decision_id in ids:
            read = door.call(
                "/aval.v1.Gateway/GetDecision",
                json.dumps({"decisionId": decision_id}).encode(),
                "app-a",
            )
            assert read.status == 200
    finally:
        assert server.stop() == 0, server.log_path.read_text()
    assert not sockets.exists()  # each worker removed its socket, the last one the folder
