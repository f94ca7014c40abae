"""Writes the OpenAPI 3.1 description of the HTTP/JSON door (aval/contract/openapi.json, also
reached as docs/openapi.json) from proto/aval/v1/*.proto, their comments included.

Every RPC of the served services is a POST path /aval.v1.<Service>/<Method> whose body and
answer follow the proto3 JSON mapping (int64 as a string, enums by name, Struct as any JSON
object, Timestamp as an RFC 3339 string...). Run by `make proto`; `make proto-check` fails when
the committed file is stale.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

PROTO_ROOT = Path(__file__).resolve().parent
OUTPUT = PROTO_ROOT.parent / "aval" / "contract" / "openapi.json"
# Services of the protos that `aval serve` does not serve: Aval calls the Advisor, it never
# answers it. Every other service is served (aval/service/edge/services.py lists them; the
# door's e2e test checks both agree).
NOT_SERVED = ("aval.v1.Advisor",)
F = descriptor_pb2.FieldDescriptorProto
_INT32 = (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_UINT32, F.TYPE_FIXED32)
_INT64 = (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64)
# The well-known types, as the proto3 JSON mapping writes them.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object", "description": "Any JSON object."},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "description": "Any JSON array."},
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, in UTC (e.g. 2026-03-01T09:30:00Z).",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix (e.g. 1.5s).",
    },
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int64Value": {"type": ["string", "null"], "format": "int64"},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
}
CONNECT_CODES = [
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
]


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """The .proto files compiled with their comments (grpc_tools, a dev dependency)."""
    from grpc_tools import protoc

    sources = (PROTO_ROOT / "aval" / "v1").glob("*.proto")
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in sources)
    include = str(Path(protoc.__file__).parent / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


class _Contract:
    """Messages, enums, services and comments of a descriptor set, by full name."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.services: dict[str, descriptor_pb2.ServiceDescriptorProto] = {}
        self.comments: dict[str, str] = {}
        for file in files.file:
            located = {
                tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location
            }
            prefix = file.package
            for i, message in enumerate(file.message_type):
                self._message(f"{prefix}.{message.name}", message, (4, i), located)
            for i, enum in enumerate(file.enum_type):
                self._enum(f"{prefix}.{enum.name}", enum, (5, i), located)
            for i, service in enumerate(file.service):
                name = f"{prefix}.{service.name}"
                self.services[name] = service
                self._comment(name, located.get((6, i)))
                for j, method in enumerate(service.method):
                    self._comment(f"{name}.{method.name}", located.get((6, i, 2, j)))

    def _comment(self, name: str, text: str | None) -> None:
        if text and text.strip():
            self.comments[name] = " ".join(line.strip() for line in text.strip().splitlines())

    def _message(self, name: str, message: Any, path: tuple[int, ...], located: Any) -> None:
        self.messages[name] = message
        self._comment(name, located.get(path))
        for j, field in enumerate(message.field):
            self._comment(f"{name}.{field.name}", located.get((*path, 2, j)))
        for k, nested in enumerate(message.nested_type):
            self._message(f"{name}.{nested.name}", nested, (*path, 3, k), located)
        for k, enum in enumerate(message.enum_type):
            self._enum(f"{name}.{enum.name}", enum, (*path, 4, k), located)

    def _enum(self, name: str, enum: Any, path: tuple[int, ...], located: Any) -> None:
        self.enums[name] = enum
        self._comment(name, located.get(path))


class _Builder:
    def __init__(self, contract: _Contract) -> None:
        self.contract = contract
        self.schemas: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, Any]:
        """A reference to the schema of a message or enum, written once."""
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # taken before recursing: messages may refer to themselves
            if name in self.contract.enums:
                self.schemas[name] = self._enum(name)
            else:
                self.schemas[name] = self._message(name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _described(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        comment = self.contract.comments.get(name)
        if comment:
            schema["description"] = comment
        return schema

    def _enum(self, name: str) -> dict[str, Any]:
        values = [v.name for v in self.contract.enums[name].value]
        return self._described({"type": "string", "enum": values}, name)

    def _message(self, name: str) -> dict[str, Any]:
        message = self.contract.messages[name]
        properties: dict[str, Any] = {}
        oneofs: dict[int, list[str]] = {}
        for field in message.field:
            schema = self._field(field)
            comment = self.contract.comments.get(f"{name}.{field.name}")
            if comment:
                schema = {**schema, "description": comment}
            properties[field.json_name] = schema
            if field.HasField("oneof_index") and not field.proto3_optional:
                oneofs.setdefault(field.oneof_index, []).append(field.json_name)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        self._described(schema, name)
        for index, members in oneofs.items():
            note = f"At most one of {', '.join(members)} (oneof {message.oneof_decl[index].name})."
            schema["description"] = (schema.get("description", "") + " " + note).strip()
        return schema

    def _field(self, field: Any) -> dict[str, Any]:
        if field.type == F.TYPE_MESSAGE:
            entry = self.contract.messages.get(field.type_name.lstrip("."))
            if entry is not None and entry.options.map_entry:
                value = self._field(entry.field[1])
                return {"type": "object", "additionalProperties": value}
        single = self._single(field)
        if field.label == F.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: Any) -> dict[str, Any]:
        kind = field.type
        if kind in (F.TYPE_MESSAGE, F.TYPE_ENUM):
            return self.ref(field.type_name.lstrip("."))
        if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return {"type": "number"}
        if kind in _INT32:
            return {"type": "integer", "format": "int32"}
        if kind in _INT64:
            return {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
        if kind == F.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == F.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        return {"type": "string"}


def _error_schema() -> dict[str, Any]:
    detail = {
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "description": "Full name of the detail's message "
                "(google.rpc.ErrorInfo, google.rpc.BadRequest, google.rpc.LocalizedMessage).",
            },
            "value": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The detail's message in protobuf binary, base64.",
            },
            "debug": {"type": "object", "description": "The same message in proto3 JSON."},
        },
        "required": ["type", "value"],
    }
    return {
        "type": "object",
        "description": "A refusal in the Connect protocol's form; `details` carry the reason "
        "(ErrorInfo.reason) and its parameters, as the gRPC status does.",
        "properties": {
            "code": {"type": "string", "enum": CONNECT_CODES},
            "message": {"type": "string"},
            "details": {"type": "array", "items": detail},
        },
        "required": ["code"],
    }


def _operation(builder: _Builder, service: str, method: Any) -> dict[str, Any]:
    short = service.rsplit(".", 1)[-1]
    request = builder.ref(method.input_type.lstrip("."))
    response = builder.ref(method.output_type.lstrip("."))
    error = {"$ref": "#/components/responses/Error"}
    operation: dict[str, Any] = {
        "operationId": f"{short}_{method.name}",
        "tags": [short],
        "summary": f"{short}.{method.name}",
    }
    comment = builder.contract.comments.get(f"{service}.{method.name}")
    if method.server_streaming:
        stream_note = (
            " Server stream in the Connect protocol's streaming form: the request body is one "
            "envelope (a flags byte 0, the length as 4 big-endian bytes, the JSON message); the "
            "answer is a sequence of such envelopes, each holding the schema below, and a last "
            'one with flags 2 holding `{}` or `{"error": <Connect error>}`.'
        )
        operation["description"] = (comment or "") + stream_note
        media = "application/connect+json"
    else:
        if comment:
            operation["description"] = comment
        media = "application/json"
    operation["requestBody"] = {"required": True, "content": {media: {"schema": request}}}
    operation["responses"] = {
        "200": {"description": "The answer.", "content": {media: {"schema": response}}},
        "400": error,
        "401": error,
        "403": error,
        "404": error,
        "409": error,
        "413": error,
        "415": error,
        "429": error,
        "default": error,
    }
    operation["parameters"] = [
        {
            "name": "Connect-Timeout-Ms",
            "in": "header",
            "required": False,
            "description": "Deadline of the call in milliseconds.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
        },
        {
            "name": "Accept-Language",
            "in": "header",
            "required": False,
            "description": "`en` for refusals in English; French otherwise.",
            "schema": {"type": "string"},
        },
    ]
    return operation


def _service_order(name: str) -> tuple[int, str]:
    """The first services in the order a reader meets them, then the others by name."""
    first = ("aval.v1.Gateway", "aval.v1.Review", "aval.v1.Audit", "aval.v1.Admin")
    return (first.index(name), "") if name in first else (len(first), name)


def build(files: descriptor_pb2.FileDescriptorSet | None = None) -> dict[str, Any]:
    """The OpenAPI document of the served services."""
    contract = _Contract(files or descriptor_set())
    builder = _Builder(contract)
    paths: dict[str, Any] = {}
    tags = []
    served = sorted(set(contract.services) - set(NOT_SERVED), key=_service_order)
    for service in served:
        short = service.rsplit(".", 1)[-1]
        tags.append({"name": short, "description": contract.comments.get(service, short)})
        for method in contract.services[service].method:
            paths[f"/{service}/{method.name}"] = {"post": _operation(builder, service, method)}
    schemas = {name: builder.schemas[name] for name in sorted(builder.schemas)}
    schemas["connect.Error"] = _error_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Aval HTTP/JSON door",
            "version": "v1",
            "description": (
                "Every RPC of Aval's gRPC services, in the Connect protocol's JSON form: POST "
                "the request message in proto3 JSON to /aval.v1.<Service>/<Method> with "
                "Content-Type: application/json and a bearer token. Field names are "
                "lowerCamelCase as written here; the proto's snake_case names are accepted too. "
                "Generated from proto/aval/v1/*.proto by proto/openapi.py; do not edit."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "aval serve --demo"}],
        "security": [{"bearerAuth": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "A refusal (Connect error JSON).",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/connect.Error"}
                        }
                    },
                }
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def is_stale() -> bool:
    return not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != render()


def write() -> None:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(PROTO_ROOT.parent)}")


if __name__ == "__main__":
    write()
