"""Refusals echo a bounded, visible part of every string field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from aval.v1 import gateway_pb2

from ..conftest import ClientOf
from ..helpers import propose_kwargs
from .conftest import CALLERS, EVERY_RPC, TRANSPORT_OR_SERVER_FAULTS, rich, rpc_id, send_bytes

pytestmark = pytest.mark.e2e


# --- Item 9: refusals echo a bounded, visible part of the caller's input ---------------------

HUGE = "\u202e\x1b[31m\u200b" + "é" * 3000
LIST_OF_HUGE = [f"{i}-" + "x" * 2000 for i in range(200)]


def base_requests(decision_id: str) -> dict[str, dict[str, Any]]:
    """A request of each RPC that goes as far as it can through the server's checks."""
    ai_system = {
        "tenant": "ville-a",
        "name": "echo-test",
        "kind": "BACKEND_KIND_OPENAI_COMPATIBLE",
        "endpoint": "http://127.0.0.1:9/v1",
        "model": "m",
    }
    return {
        "Propose": propose_request_fields(),
        "Decide": {"decision_id": decision_id, "verdict": "VERDICT_APPROVE"},
        "RegisterAISystem": {"ai_system": ai_system, "reason": "essai"},
        "RegisterModelVersion": {
            "ai_system": "echo-test",
            "version": "1",
            "instructions": {"intended_purpose": "p", "known_limits": ["l"], "metrics": {"a": 1}},
        },
        "RequestPin": {"ai_system": "echo-test", "version": "1", "reason": "r"},
        "DecidePin": {"pin_request_id": str(uuid.uuid4()), "reason": "r"},
        "SetShadow": {"ai_system": "echo-test", "version": "1", "reason": "r"},
        "Stop": {"scope": "STOP_SCOPE_AI_SYSTEM", "target": "echo-test", "reason": "r"},
        "Resume": {"scope": "STOP_SCOPE_AI_SYSTEM", "target": "echo-test", "reason": "r"},
        "Evaluate": {"ai_system": "echo-test", "decision_type": "voirie.signalement"},
        "ProveConsistency": {"old_size": 1},
        "ExplainDecision": {"decision_id": decision_id},
        "GetDecision": {"decision_id": decision_id},
        "WatchDecision": {"decision_id": decision_id},
        "Claim": {"decision_id": decision_id},
        "Release": {"decision_id": decision_id},
    }


def propose_request_fields() -> dict[str, Any]:
    return {
        "decision_type": "voirie.signalement",
        "subject_ref": "usager:1",
        "idempotency_key": str(uuid.uuid4()),
        "input": {"a": 1},
        "attested_suggestion": {"output": {"s": 1}, "model": {"name": "m", "version": "1"}},
    }


def string_fields(descriptor: Descriptor, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every string field of a request (and of its messages), map keys included."""
    found = []
    for field in descriptor.fields:
        path = (*prefix, field.name)
        if field.type == FieldDescriptor.TYPE_STRING:
            found.append(path)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            inner = field.message_type
            if inner.full_name.startswith("google.protobuf."):
                continue
            if inner.GetOptions().map_entry:
                found.append((*path, "<key>"))
            elif len(prefix) < 2:
                found += string_fields(inner, path)
    return found


def with_huge(base: dict[str, Any], path: tuple[str, ...], descriptor: Descriptor) -> Message:
    """The base request with the field at `path` set to a huge value (200 of them in a list)."""
    data = json.loads(json.dumps(base))
    node, current = data, descriptor
    for name in path[:-1]:
        field = current.fields_by_name[name]
        if field.message_type.GetOptions().map_entry:
            break
        node = node.setdefault(name, [{}])[0] if field.is_repeated else node.setdefault(name, {})
        current = field.message_type
    last = path[-1]
    if last == "<key>":
        node[path[-2]] = {HUGE: 1.0}
    else:
        field = current.fields_by_name[last]
        node[last] = LIST_OF_HUGE if field.is_repeated else HUGE
    message = json_format.ParseDict(data, _message_class(descriptor)())
    return message


def _message_class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def test_refusals_echo_a_bounded_visible_part_of_every_string_field(
    channel: grpc.Channel, client_of: ClientOf
) -> None:
    """Whatever string field holds a huge value with control and bidi characters (every
    field of every RPC), a default client reads the refusal: its real status, with the rich
    details, the echoed value cut short and its invisible characters shown as escapes."""
    decision_id = client_of("app-a").propose(**propose_kwargs()).decision.id
    bases = base_requests(decision_id)
    checked = 0
    for method in EVERY_RPC:
        caller = CALLERS[method.containing_service.name]
        for path in string_fields(method.input_type):
            request = with_huge(bases.get(method.name, {}), path, method.input_type)
            where = f"{rpc_id(method)} {'.'.join(path)}"
            err = send_bytes(channel, method, request.SerializeToString(), caller)
            checked += 1
            if err is None:
                continue
            assert err.code() not in TRANSPORT_OR_SERVER_FAULTS, (where, err.code(), err.details())
            info, _ = rich(err)
            assert info.reason, where
            text = err.details() or ""
            assert len(text) < 2000, (where, len(text))
            for invisible in ("\u202e", "\x1b", "\u200b"):
                assert invisible not in text, where
                assert all(invisible not in value for value in info.metadata.values()), where
            assert all(len(value) <= 120 for value in info.metadata.values()), where
    assert checked > 60
    # Keys of JSON values are the caller's too: a field path holding them is cut short.
    propose = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].methods_by_name["Propose"]
    request = _message_class(propose.input_type)()
    json_format.ParseDict(bases["Propose"], request)
    request.input.update({HUGE: float("nan"), "b" * 5000: {HUGE: float("inf")}})
    err = send_bytes(channel, propose, request.SerializeToString(), "app-a")
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, fields = rich(err)
    assert fields and all(len(f) <= 210 and "\u202e" not in f for f in fields)
