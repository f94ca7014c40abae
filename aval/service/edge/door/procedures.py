"""The procedures the door serves: every RPC of the services the gRPC server serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool, message_factory

from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, people_pb2, review_pb2

# The services of `aval serve` (Advisor is called by Aval, never served by it).
SERVED_SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (gateway_pb2, "Gateway"),
        (review_pb2, "Review"),
        (audit_pb2, "Audit"),
        (admin_pb2, "Admin"),
        (people_pb2, "People"),
    )
)


@dataclass(frozen=True)
class Procedure:
    """One RPC: its path (/aval.v1.Gateway/Propose), message classes and whether it streams."""

    path: str
    request: type[Any]
    response: type[Any]
    server_streaming: bool


def procedures() -> dict[str, Procedure]:
    """Every RPC of the served services, by path."""
    pool = descriptor_pool.Default()
    found: dict[str, Procedure] = {}
    for name in SERVED_SERVICES:
        for method in pool.FindServiceByName(name).methods:
            path = f"/{name}/{method.name}"
            found[path] = Procedure(
                path,
                message_factory.GetMessageClass(method.input_type),
                message_factory.GetMessageClass(method.output_type),
                bool(method.server_streaming),
            )
    return found
