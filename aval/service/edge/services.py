"""The gRPC services `aval serve` serves, by full name: the server registers them, health
reports them, reflection lists them and the HTTP/JSON door serves every RPC of them (Advisor
is called by Aval, never served by it)."""

from __future__ import annotations

from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, journal_pb2, people_pb2, review_pb2

SERVED_SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (gateway_pb2, "Gateway"),
        (review_pb2, "Review"),
        (audit_pb2, "Audit"),
        (admin_pb2, "Admin"),
        (journal_pb2, "AccessJournal"),
        (people_pb2, "People"),
    )
)
