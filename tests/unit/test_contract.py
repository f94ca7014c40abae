"""The wire contract: generated code is fresh, and every RPC has an implementation."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from google.protobuf.descriptor import MethodDescriptor

from aval.service.edge.servicers.admin import AdminServicer
from aval.service.edge.servicers.audit import AuditServicer
from aval.service.edge.servicers.gateway import GatewayServicer
from aval.service.edge.servicers.journal import AccessJournalServicer
from aval.service.edge.servicers.people import PeopleServicer
from aval.service.edge.servicers.review import ReviewServicer
from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, journal_pb2, people_pb2, review_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_not_stale() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def served_methods() -> Iterator[tuple[str, type, MethodDescriptor]]:
    """(service name, its servicer, one of its RPCs) for every RPC the server serves."""
    for module, name, servicer in [
        (gateway_pb2, "Gateway", GatewayServicer),
        (review_pb2, "Review", ReviewServicer),
        (audit_pb2, "Audit", AuditServicer),
        (admin_pb2, "Admin", AdminServicer),
        (journal_pb2, "AccessJournal", AccessJournalServicer),
        (people_pb2, "People", PeopleServicer),
    ]:
        for method in module.DESCRIPTOR.services_by_name[name].methods:
            yield name, servicer, method


def test_every_rpc_is_implemented() -> None:
    for name, servicer, method in served_methods():
        implementation = getattr(servicer, method.name)
        base = getattr(servicer.__mro__[1], method.name)
        assert implementation is not base, f"{name}.{method.name} is not implemented"
