"""The raw channel to the shared server and the byte-level helpers of the transport tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aval.v1 import admin_pb2, audit_pb2, gateway_pb2, journal_pb2, people_pb2, review_pb2
from tests.support import ServerProcess

from ..helpers import metadata_of

DEFAULT_PAYLOAD_LIMIT = 64 * 1024
# Who calls each service in the class-wide tests: a principal every RPC of it authenticates.
CALLERS = {
    "Gateway": "app-a",
    "Review": "sup-a1",
    "Audit": "insp-pool",
    "Admin": "admin-a",
    "AccessJournal": "dpo-a",
    "People": "insp-pool",
}
SERVICES = (
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    review_pb2.DESCRIPTOR.services_by_name["Review"],
    audit_pb2.DESCRIPTOR.services_by_name["Audit"],
    admin_pb2.DESCRIPTOR.services_by_name["Admin"],
    journal_pb2.DESCRIPTOR.services_by_name["AccessJournal"],
    people_pb2.DESCRIPTOR.services_by_name["People"],
)
EVERY_RPC = [method for service in SERVICES for method in service.methods]
# A status a client reads as the server's answer, not as a failure of the transport or server.
TRANSPORT_OR_SERVER_FAULTS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
STALL_SECONDS = 5


def rpc_id(method: MethodDescriptor) -> str:
    return f"{method.containing_service.name}.{method.name}"


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def send_bytes(
    channel: grpc.Channel,
    method: MethodDescriptor,
    body: bytes,
    principal: str | None,
    *,
    token: str | None = None,
    timeout: float = 15,
) -> grpc.RpcError | None:
    """Sends raw bytes as the request of `method`; returns the error it ended with, if any."""
    metadata: tuple[tuple[str, str], ...] = metadata_of(principal)
    if token is not None:
        metadata = (("authorization", f"Bearer {token}"),)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path_of(method))
            list(stream(body, metadata=metadata, timeout=timeout))
        else:
            channel.unary_unary(path_of(method))(body, metadata=metadata, timeout=timeout)
    except grpc.RpcError as err:
        return err
    return None


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def length_delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def first_string_field(descriptor: Descriptor) -> list[FieldDescriptor] | None:
    """The path to a string field of the message (nested messages searched too)."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return [field]
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not descriptor:
            inner = first_string_field(field.message_type)
            if inner is not None:
                return [field, *inner]
    return None


def bad_utf8(descriptor: Descriptor) -> bytes | None:
    """A message whose first string field holds bytes that are not UTF-8."""
    path = first_string_field(descriptor)
    if path is None:
        return None
    body = b"ok\xff\xfe\xc3("
    for field in reversed(path):
        body = length_delimited(field.number, body)
    return body


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_bodies(method: MethodDescriptor) -> list[bytes]:
    """Requests whose JSON values nest deeper than protobuf's decoder goes, for each Struct
    field of the request (none for most RPCs)."""
    bodies = []
    if method.name == "Propose":
        for where in ("input", "suggestion"):
            request = gateway_pb2.ProposeRequest(decision_type="voirie.signalement")
            target = request.input if where == "input" else request.attested_suggestion.output
            target.update({"k": nested(40)})
            bodies.append(request.SerializeToString())
    if method.name == "Decide":
        request = review_pb2.DecideRequest(decision_id=str(uuid.uuid4()))
        request.amended_output.update({"k": [[[[nested(40)]]]]})
        bodies.append(request.SerializeToString())
    return bodies


def undecodable_bodies(method: MethodDescriptor) -> dict[str, bytes]:
    bodies = {
        "corrupt tag": b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        "truncated field": length_delimited(1, b"abcdef")[:-3],
        "unclosed group": varint(1000 << 3 | 3) * 150,
    }
    utf8 = bad_utf8(method.input_type)
    if utf8 is not None:
        bodies["bad UTF-8"] = utf8
    for i, body in enumerate(deep_bodies(method)):
        bodies[f"nested too deep #{i}"] = body
    return bodies


def rich(err: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    """The ErrorInfo of a rich status, and the fields its BadRequest names."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"no rich status: {err.code()} {err.details()}"
    info = error_details_pb2.ErrorInfo()
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return info, fields


@pytest.fixture(scope="package")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    """A channel with the default options of a grpc client."""
    with grpc.insecure_channel(server.address) as opened:
        yield opened


def large_propose(size: int) -> bytes:
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement", subject_ref="usager:x", idempotency_key="k"
    )
    request.input.update({"texte": "x" * size})
    return request.SerializeToString()
