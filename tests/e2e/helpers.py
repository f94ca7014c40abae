"""What the end-to-end tests share: proposals, raw gRPC calls, the CLI, waiting, the trail."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, from_rpc_error
from aval.v1 import audit_pb2, audit_pb2_grpc, common_pb2, gateway_pb2_grpc, review_pb2_grpc
from tests.support import ServerProcess, token_of

PENDING = common_pb2.DECISION_STATE_PENDING_REVIEW
APPROVED = common_pb2.DECISION_STATE_APPROVED
AMENDED = common_pb2.DECISION_STATE_AMENDED
REJECTED = common_pb2.DECISION_STATE_REJECTED
EXPIRED = common_pb2.DECISION_STATE_EXPIRED

SUGGESTION = {"accord": True, "montant_centimes": 12000}
GENESIS = "0" * 64


def propose_kwargs(decision_type: str = "aides.attribution", **changes: Any) -> dict[str, Any]:
    """The arguments of a `Client.propose` with an attested suggestion and a fresh key."""
    kwargs: dict[str, Any] = {
        "decision_type": decision_type,
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"quotient_familial": 640, "demande": "aide cantine"},
        "idempotency_key": str(uuid.uuid4()),
        "suggestion": dict(SUGGESTION),
        "confidence": 0.82,
        "explanation": "quotient familial sous le seuil de 700",
        "model": "bareme-ccas@2026.1",
    }
    kwargs.update(changes)
    return kwargs


def metadata_of(principal: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_of(principal)}"),) if principal else ()


class Raw:
    """The generated stubs on one channel, for requests the SDK would never send."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.gateway = gateway_pb2_grpc.GatewayStub(self.channel)
        self.review = review_pb2_grpc.ReviewStub(self.channel)
        self.audit = audit_pb2_grpc.AuditStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def call(
        self, rpc: Callable[..., Any], request: Any, principal: str | None, *, stream: bool = False
    ) -> Any:
        """Sends `request` as `principal`; a refusal is raised as the SDK's typed error."""
        try:
            reply = rpc(request, metadata=metadata_of(principal), timeout=10)
            return list(reply) if stream else reply
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def serving(self, service: str = "") -> bool:
        request = health_pb2.HealthCheckRequest(service=service)
        reply = self.health.Check(request, timeout=5)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        self.channel.close()


def fields_of(error: AvalError) -> list[str]:
    return sorted(v.field for v in error.violations)


def all_events(client: Client, **filters: Any) -> list[audit_pb2.AuditEvent]:
    """Every event matching the filters, page after page."""
    events: list[audit_pb2.AuditEvent] = []
    token = ""
    while True:
        page = client.query_events(page_size=1000, page_token=token, **filters)
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


def queue_ids(client: Client, **filters: Any) -> Iterator[str]:
    """Every decision id of the caller's queue, page after page."""
    token = ""
    while True:
        page = client.list_queue(page_size=500, page_token=token, **filters)
        yield from (d.id for d in page.decisions)
        token = page.next_page_token
        if not token:
            return


def chain_hash(prev_hash_hex: str, seq: int, canonical: bytes) -> str:
    """SHA-256(prev hash || seq as 8 bytes big-endian || canonical), computed here, not by Aval."""
    data = bytes.fromhex(prev_hash_hex) + seq.to_bytes(8, "big", signed=True) + canonical
    return hashlib.sha256(data).hexdigest()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what}")
        time.sleep(0.05)


def run_cli(
    address: str, principal: str | None, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `aval ARGS` against the gateway at `address` as `principal` (or with `token`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAL_")}
    env["AVAL_ADDRESS"] = address
    if token is None and principal is not None:
        token = token_of(principal)
    if token is not None:
        env["AVAL_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def superuser(url: str) -> Iterator[psycopg.Connection[Any]]:
    """What only someone with full database access can do: triggers off, one transaction."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@contextlib.contextmanager
def restored(url: str, table: str, tenant: str) -> Iterator[None]:
    """Puts the tenant's rows of `table` back as they were (a superuser's edits undone)."""
    with psycopg.connect(url) as conn:
        saved = conn.execute(
            f"SELECT to_jsonb(t) FROM aval.{table} t WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    try:
        yield
    finally:
        with superuser(url) as conn:
            conn.execute(f"DELETE FROM aval.{table} WHERE tenant_id = %s", (tenant,))
            for (row,) in saved:
                conn.execute(
                    f"INSERT INTO aval.{table}"
                    f" SELECT * FROM jsonb_populate_record(NULL::aval.{table}, %s)",
                    (json.dumps(row),),
                )


@dataclass
class VerifiedGateway:
    """A gateway on a database of its own, which a test tampers with as a superuser and then
    verifies; `keys` are the ids of the rows it tampers with."""

    server: ServerProcess
    url: str
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, principal: str) -> Client:
        return Client(self.server.address, token_of(principal), timeout=20)

    def verify(self) -> audit_pb2.VerifyChainResponse:
        with self.client("insp-a") as inspector:
            return inspector.verify_chain()
