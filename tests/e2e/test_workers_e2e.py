"""`aval serve --workers 2`: two processes on one port behave as one service and stop together."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from aval.clients.sdk.calls import propose as propose_call  # the SDK's own request builder
from aval.clients.sdk.errors import from_rpc_error
from aval.v1 import common_pb2, gateway_pb2_grpc, review_pb2, review_pb2_grpc
from tests.support import ServerProcess, token_of

from .helpers import propose_kwargs

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_workers_share_the_port_and_stop_together(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess.start(
        database_url, tmp_path, name="workers", extra_env={"AVAL_WORKERS": "2"}
    )
    workers: list[int] = []
    try:
        workers = [pid for pid in _children(server.process.pid) if _is_worker(pid)]
        assert len(workers) == 2, workers
        # Separate connections (local subchannel pools) land on either worker; every call to
        # either must be the same service.
        channels = [
            grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(6)
        ]
        app = [("authorization", f"Bearer {token_of('app-a')}")]
        sup = [("authorization", f"Bearer {token_of('sup-a1')}")]
        try:
            for i, channel in enumerate(channels):
                request = propose_call(**propose_kwargs("voirie.signalement")).request
                decision = (
                    gateway_pb2_grpc.GatewayStub(channel)
                    .Propose(request, metadata=app, timeout=30)
                    .decision
                )
                other = channels[(i + 1) % len(channels)]
                decided = (
                    review_pb2_grpc.ReviewStub(other)
                    .Decide(
                        review_pb2.DecideRequest(
                            decision_id=decision.id, verdict=common_pb2.VERDICT_APPROVE
                        ),
                        metadata=sup,
                        timeout=30,
                    )
                    .decision
                )
                assert decided.state == common_pb2.DECISION_STATE_APPROVED
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            for channel in channels:
                channel.close()
    finally:
        status = server.stop()
    assert status == 0, server.log_path.read_text()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers), "a worker outlived it"


def _is_worker(pid: int) -> bool:
    # Spawned workers, not multiprocessing's resource tracker.
    return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
