"""The transport edge against a hostile peer (issue 10, items 3, 7, 8 and 9).

A request body is read only for a caller with a valid token, and only up to what the largest
legitimate request needs; a body that cannot be decoded is refused plainly on every RPC; unread
streams cannot starve the server, and health follows the database; a refusal never echoes more
of the caller's input than a default client can read.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from psycopg import conninfo

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, InvalidArgumentError, from_rpc_error
from aval.v1 import admin_pb2, audit_pb2, common_pb2, gateway_pb2, review_pb2
from aval.verifier.chain import canonical_json
from tests.support import ServerProcess, token_of

from .conftest import ClientOf
from .helpers import AMENDED, EXPIRED, PENDING, metadata_of, propose_kwargs, queue_ids, wait_until

pytestmark = pytest.mark.e2e

DEFAULT_PAYLOAD_LIMIT = 64 * 1024
# Who calls each service in the class-wide tests: a principal every RPC of it authenticates.
CALLERS = {"Gateway": "app-a", "Review": "sup-a1", "Audit": "insp-pool", "Admin": "admin-a"}
SERVICES = (
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    review_pb2.DESCRIPTOR.services_by_name["Review"],
    audit_pb2.DESCRIPTOR.services_by_name["Audit"],
    admin_pb2.DESCRIPTOR.services_by_name["Admin"],
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


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    """A channel with the default options of a grpc client."""
    with grpc.insecure_channel(server.address) as opened:
        yield opened


# --- Item 3: bodies are read only for callers with a token, up to a legitimate size ----------


def digits_filling(limit: int) -> dict[str, Any]:
    """The JSON value of at most `limit` bytes whose protobuf Struct is the largest: a list of
    one-digit numbers (2 bytes each in JSON, 11 in a Struct)."""
    count = (limit - len(b'{"k":[]}') + 1) // 2
    value = {"k": [0] * count}
    assert len(canonical_json(value)) <= limit
    return value


def test_the_largest_legitimate_requests_fit_the_receive_limit(client_of: ClientOf) -> None:
    """Propose with an input and an attested suggestion each at the payload limit in their
    largest protobuf form, and a 20,000-character explanation of 4-byte characters, is
    received; so is Decide with such an amended output."""
    value = digits_filling(DEFAULT_PAYLOAD_LIMIT)
    kwargs = propose_kwargs(
        "voirie.signalement", input=value, suggestion=value, explanation="🙂" * 20_000
    )
    app = client_of("app-a")
    decision = app.propose(**kwargs).decision
    assert decision.state == PENDING
    request = gateway_pb2.ProposeRequest(attested_suggestion={"explanation": "🙂" * 20_000})
    request.input.update(value)
    request.attested_suggestion.output.update(value)
    assert request.ByteSize() > 800_000, "not the largest request the contract allows"
    try:
        client_of("sup-a1").decide(
            decision.id, verdict="amend", amended_output=value, justification="montant revu"
        )
    except AvalError as error:  # amendments may get their own limits: never the transport's
        assert error.code not in TRANSPORT_OR_SERVER_FAULTS, error


def large_propose(size: int) -> bytes:
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement", subject_ref="usager:x", idempotency_key="k"
    )
    request.input.update({"texte": "x" * size})
    return request.SerializeToString()


def test_a_request_larger_than_any_legitimate_one_is_refused_and_the_server_answers_on(
    channel: grpc.Channel, raw: Any, client_of: ClientOf
) -> None:
    """Over the receive limit, a caller with a token gets RESOURCE_EXHAUSTED (the gRPC status
    for a message over the receiver's limit, answered before its body is decoded) and one
    without a token UNAUTHENTICATED; the server goes on answering."""
    propose = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].methods_by_name["Propose"]
    for size in (1_100_000, 2_000_000, 3_900_000):
        body = large_propose(size)
        with_token = send_bytes(channel, propose, body, "app-a")
        assert with_token is not None and with_token.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        without = send_bytes(channel, propose, body, None)
        assert without is not None and without.code() == grpc.StatusCode.UNAUTHENTICATED
        info, _ = rich(without)
        assert info.reason == "NO_CREDENTIALS"
    assert raw.serving()
    assert client_of("app-a").propose(**propose_kwargs()).decision.state == PENDING


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_bodies_of_calls_without_a_valid_token_are_never_decoded(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    """Authentication comes before the body is read: undecodable or oversized bytes sent with
    no token, or an unknown one, are refused as UNAUTHENTICATED with the reason, on every RPC."""
    bodies = [*undecodable_bodies(method).values(), large_propose(1_500_000)]
    for body in bodies:
        for token, reason in ((None, "NO_CREDENTIALS"), ("test-token-nobody", "UNKNOWN_TOKEN")):
            err = send_bytes(channel, method, body, None, token=token)
            assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED, err and (
                err.code(),
                err.details(),
            )
            info, _ = rich(err)
            assert info.reason == reason


# --- Item 8: undecodable requests are INVALID_ARGUMENT with a plain reason, on every RPC -------


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_undecodable_requests_are_invalid_argument_on_every_rpc_I6(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    caller = CALLERS[method.containing_service.name]
    for what, body in undecodable_bodies(method).items():
        err = send_bytes(channel, method, body, caller)
        assert err is not None, what
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, err.code(), err.details())
        info, fields = rich(err)
        assert info.reason == "INVALID_ARGUMENT" and fields == ["request"], (what, fields)
        text = err.details() or ""
        for internal in ("upb", "protobuf", "Error parsing", "DecodeError", "Unexpected"):
            assert internal not in text, (what, text)


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_a_call_without_its_request_message_is_invalid_argument_I6(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    """A client that half-closes without sending the request gets an answer at once (not a
    call left open until its deadline)."""
    caller = CALLERS[method.containing_service.name]
    metadata = metadata_of(caller)
    try:
        if method.server_streaming:
            list(channel.stream_stream(path_of(method))(iter([]), metadata=metadata, timeout=10))
        else:
            channel.stream_unary(path_of(method))(iter([]), metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        error = from_rpc_error(err)
        assert [(v.field, v.reason) for v in error.violations] == [("request", "NO_MESSAGE")]
    else:
        raise AssertionError("answered without a request")


def test_the_reason_says_what_is_wrong_with_the_bytes(channel: grpc.Channel) -> None:
    propose = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].methods_by_name["Propose"]
    bodies = undecodable_bodies(propose)
    expected = {
        "corrupt tag": "UNDECODABLE",
        "bad UTF-8": "NOT_UTF8",
        "nested too deep #0": "NESTED_TOO_DEEP",
    }
    for what, reason in expected.items():
        err = send_bytes(channel, propose, bodies[what], "app-a")
        assert err is not None
        error = from_rpc_error(err)
        assert [v.reason for v in error.violations] == [reason], what
        assert error.violations[0].localized  # worded in the caller's language too


MAX_JSON_DEPTH = 30  # levels of objects and arrays, the value itself counted


def deepest(levels: int, kind: str) -> Any:
    """A JSON object nested `levels` deep (itself counted), through objects or arrays."""
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value} if kind == "object" else [value]
    return {"k": value}


def test_the_sdk_refuses_json_nested_deeper_than_the_server_accepts() -> None:
    """The SDK refuses, before sending anything, a JSON value the server would refuse: no
    server listens at the address, so a request sent would fail as UNAVAILABLE."""
    with Client("127.0.0.1:9", token_of("app-a"), timeout=2) as nowhere:
        for kind in ("object", "array"):
            too_deep = deepest(MAX_JSON_DEPTH + 1, kind)
            attempts: list[Callable[[], Any]] = [
                functools.partial(nowhere.propose, **propose_kwargs(input=too_deep)),
                functools.partial(nowhere.propose, **propose_kwargs(suggestion=too_deep)),
                functools.partial(
                    nowhere.decide, str(uuid.uuid4()), verdict="amend", amended_output=too_deep
                ),
            ]
            for attempt in attempts:
                with pytest.raises(InvalidArgumentError) as caught:
                    attempt()
                assert [v.reason for v in caught.value.violations] == ["NESTED_TOO_DEEP"]
            # One level less is sent (and fails for want of a server).
            with pytest.raises(AvalError) as sent:
                nowhere.propose(**propose_kwargs(input=deepest(MAX_JSON_DEPTH, kind)))
            assert sent.value.code == grpc.StatusCode.UNAVAILABLE


JSON_FIELDS = ("input", "attested_suggestion.output", "amended_output")


@pytest.mark.parametrize("kind", ["object", "array"])
@pytest.mark.parametrize("field", JSON_FIELDS)
def test_json_nested_too_deep_is_refused_naming_the_field_I6(
    raw: Any, client_of: ClientOf, field: str, kind: str
) -> None:
    """The server refuses one level over the limit with INVALID_ARGUMENT naming the field,
    and past what protobuf decodes (34 levels of objects) still INVALID_ARGUMENT."""
    d = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    for levels in (MAX_JSON_DEPTH + 1, 34, 60):
        value = deepest(levels, kind)
        if field == "amended_output":
            decide = review_pb2.DecideRequest(decision_id=d.id, verdict=common_pb2.VERDICT_AMEND)
            decide.amended_output.update(value)
            call: Callable[[], Any] = lambda: raw.call(raw.review.Decide, decide, "sup-a1")  # noqa: E731,B023
        else:
            propose = gateway_pb2.ProposeRequest(
                decision_type="voirie.signalement", subject_ref="usager:x", idempotency_key="k"
            )
            propose.input.update({"a": 1})
            propose.attested_suggestion.output.update({"s": 1})
            target = propose.input if field == "input" else propose.attested_suggestion.output
            target.Clear()
            target.update(value)
            call = lambda: raw.call(raw.gateway.Propose, propose, "app-a")  # noqa: E731,B023
        with pytest.raises(InvalidArgumentError) as caught:
            call()
        violations = caught.value.violations
        assert [v.reason for v in violations] == ["NESTED_TOO_DEEP"], (levels, violations)
        assert violations[0].field.startswith(field) or violations[0].field == "request"
        if levels == MAX_JSON_DEPTH + 1:
            assert violations[0].field.startswith(field)


@pytest.mark.parametrize("kind", ["object", "array"])
def test_json_at_the_nesting_limit_is_accepted_and_read_back_everywhere(
    channel: grpc.Channel, client_of: ClientOf, kind: str
) -> None:
    """A value nested as deeply as allowed, in every JSON field, is accepted, and every
    response that carries it (decision, queue, events, explanation) decodes in a default
    client: no stored value can make another's reads fail."""
    value = deepest(MAX_JSON_DEPTH, kind)
    app, sup, insp = client_of("app-a"), client_of("sup-a1"), client_of("insp-a")
    kwargs = propose_kwargs("voirie.signalement", input=value, suggestion=value)
    pending = app.propose(**kwargs).decision
    assert pending.id in set(queue_ids(sup))  # the queue's pages decode
    d = app.propose(**{**kwargs, "idempotency_key": str(uuid.uuid4())}).decision
    sup.decide(d.id, verdict="amend", amended_output=value, justification="au plus profond")
    final = app.get_decision(d.id)
    assert final.state == AMENDED and final.outcome == final.suggestion.output
    assert len(insp.explain_decision(d.id).events) >= 2
    events = insp.query_events(decision_id=d.id, page_size=100).events
    assert {e.kind for e in events} >= {"decision.proposed", "review.recorded"}


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


# --- Items 3 and 7 on a gateway with tight limits --------------------------------------------


@pytest.fixture(scope="module")
def tight(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A gateway of its own, on a database of its own, with two request slots, two main pool
    connections and two export connections, and a short stall timeout."""
    process = ServerProcess.start(
        new_database(),
        tmp_path_factory.mktemp("e2e-tight"),
        name="tight",
        extra_env={
            "AVAL_MAX_CONCURRENT_REQUESTS": "2",
            "AVAL_POOL_MIN_SIZE": "1",
            "AVAL_POOL_MAX_SIZE": "2",
            "AVAL_EXPORT_POOL_SIZE": "2",
            "AVAL_STREAM_STALL_SECONDS": str(STALL_SECONDS),
        },
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="module")
def on_tight(tight: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(tight.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


def test_long_lived_watches_do_not_starve_unary_calls(on_tight: Callable[[str], Client]) -> None:
    """With two request slots, six open WatchDecision streams leave Propose and GetDecision
    answering promptly, and more concurrent calls than slots wait their turn, none refused."""
    app = on_tight("app-a")
    pending = [app.propose(**propose_kwargs()).decision.id for _ in range(6)]
    streams = [app.watch_decision(d, timeout=60) for d in pending]
    for stream in streams:
        assert next(stream).state == PENDING  # each watch is open and has answered
    with Client(app.address, token_of("app-a"), timeout=5) as prompt:
        started = time.monotonic()
        d = prompt.propose(**propose_kwargs()).decision
        assert prompt.get_decision(d.id).id == d.id
        assert time.monotonic() - started < 5
    errors: list[BaseException] = []

    def propose() -> None:
        try:
            on_tight("app-a").propose(**propose_kwargs())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=propose) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    for stream in streams:
        stream.close()


def fill_trail(client: Client, megabytes: float) -> None:
    """Enough events in ville-a that an export holds more than `megabytes` MB."""
    explanation = "x" * 20_000  # attested suggestions are kept whole in the trail
    for _ in range(int(megabytes * 1e6 / 40_000) + 1):
        client.propose(**propose_kwargs("voirie.signalement", explanation=explanation))


class UnreadExport:
    """An export stream opened on a connection of its own, whose client reads nothing."""

    def __init__(self, address: str) -> None:
        # No BDP probing: the client's window stays small, so unread chunks soon stall.
        self.channel = grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)])
        rpc = self.channel.unary_stream(
            "/aval.v1.Audit/ExportEvents",
            request_serializer=audit_pb2.ExportEventsRequest.SerializeToString,
            response_deserializer=audit_pb2.ExportEventsResponse.FromString,
        )
        self.stream = rpc(
            audit_pb2.ExportEventsRequest(), metadata=metadata_of("insp-a"), timeout=120
        )

    def outcome(self) -> tuple[int, grpc.StatusCode, grpc.RpcError | None]:
        """Reads it to the end now: chunks received, and the status it ended with."""
        chunks = 0
        try:
            for _ in self.stream:
                chunks += 1
        except grpc.RpcError as err:
            return chunks, err.code(), err
        return chunks, grpc.StatusCode.OK, None

    def close(self) -> None:
        self.stream.cancel()
        self.channel.close()


def test_unread_exports_cannot_starve_the_server(
    tight: ServerProcess, on_tight: Callable[[str], Client]
) -> None:
    """More unread export streams than the export pool holds: those beyond it are refused at
    once with RESOURCE_EXHAUSTED naming the setting; Propose and GetDecision still answer
    promptly, and the deadline sweeper expires what is due; the unread ones are ended after
    the stall timeout, their connections released."""
    app = on_tight("app-a")
    fill_trail(app, 3)
    due = app.propose(**propose_kwargs("express.test")).decision  # a deadline of 2 s
    exports = [UnreadExport(tight.address) for _ in range(5)]
    opened = time.monotonic()
    try:
        time.sleep(1)
        with Client(tight.address, token_of("app-a"), timeout=5) as prompt:
            for _ in range(3):
                d = prompt.propose(**propose_kwargs()).decision
                assert prompt.get_decision(d.id).state == PENDING
            wait_until(
                lambda: prompt.get_decision(due.id).state == EXPIRED, 3, "the sweeper expired it"
            )
        assert time.monotonic() - opened < STALL_SECONDS  # while the exports were held
        time.sleep(max(0.0, opened + STALL_SECONDS + 2 - time.monotonic()))
        outcomes = [export.outcome() for export in exports]
    finally:
        for export in exports:
            export.close()
    codes = sorted(code.name for _, code, _ in outcomes)
    assert codes == ["ABORTED", "ABORTED", *["RESOURCE_EXHAUSTED"] * 3], codes
    for chunks, code, err in outcomes:
        assert err is not None
        info, _ = rich(err)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            assert chunks == 0 and info.reason == "EXPORTS_BUSY"
            assert "AVAL_EXPORT_POOL_SIZE" in (err.details() or "")
        else:
            assert chunks > 0 and info.reason == "STREAM_STALLED"
    # The export connections are free again: a reader gets the whole trail.
    with Client(tight.address, token_of("insp-a"), timeout=60) as reader:
        sent = [chunk.events for chunk in reader.export_events()]
    assert sent and sent[-1] > 70


# --- Item 7: health follows the database -----------------------------------------------------


def test_health_says_not_serving_while_the_database_is_unusable(
    new_database: Callable[..., str], server_url: str, tmp_path: Any
) -> None:
    url = new_database()
    name = conninfo.conninfo_to_dict(url)["dbname"]
    process = ServerProcess.start(
        url,
        tmp_path,
        name="probed",
        extra_env={"AVAL_HEALTH_PROBE_SECONDS": "0.5"},
    )
    channel = grpc.insecure_channel(process.address)
    health = health_pb2_grpc.HealthStub(channel)

    def status(service: str = "") -> int:
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)

    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    try:
        assert status() == serving
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                wait_until(lambda: status() == not_serving, 15, "NOT_SERVING without a database")
                assert status("aval.v1.Gateway") == not_serving
            finally:
                admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        wait_until(lambda: status() == serving, 30, "SERVING again once the database is back")
        assert status("aval.v1.Audit") == serving
    finally:
        channel.close()
        code = process.stop()
    assert code == 0, process.log_path.read_text()
