"""Every RPC goes through the edge (aval/service/edge/servicers/edge.py, put on each servicer
class by `guarded`), where a NUL character anywhere in its request is refused: every string,
however deep, is found."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from aval.service.edge.servicers import edge
from aval.service.requests import nul_fields
from aval.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc

from .test_contract import served_methods


def test_every_rpc_method_is_wrapped_by_the_edge() -> None:
    for _, servicer, method in served_methods():
        code = getattr(servicer, method.name).__code__
        assert code.co_filename == edge.__file__ and code.co_name == "wrapper", method.name


def test_a_servicer_missing_an_rpc_method_is_refused() -> None:
    class Partial(gateway_pb2_grpc.GatewayServicer):
        async def Propose(self, request: object, context: object) -> None: ...

    with pytest.raises(TypeError, match=r"Partial\.GetDecision"):
        edge.guarded(Partial)


def _propose() -> Message:
    request = gateway_pb2.ProposeRequest(subject_ref="ok", tenant="a\x00")
    request.input.update({"k\x00": 1, "deep": {"list": ["ok", {"x": "\x00"}]}, "fine": "oui"})
    request.attested_suggestion.sources.extend(["ok", "s\x00"])
    request.attested_suggestion.factors.add(name="f\x00")
    return request


def _model_version() -> Message:
    request = admin_pb2.RegisterModelVersionRequest(ai_system="s", version="v\x00")
    request.instructions.metrics["m\x00"] = 1.0
    request.instructions.metrics["ok"] = 2.0
    request.instructions.known_limits.extend(["\x00"])
    return request


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            _propose(),
            [
                "tenant",
                "input.deep.list[1].x",
                "input.k\\u0000",
                "attested_suggestion.factors[0].name",
                "attested_suggestion.sources[1]",
            ],
        ),
        (
            _model_version(),
            ["version", "instructions.known_limits[0]", "instructions.metrics.m\\u0000"],
        ),
        (gateway_pb2.ProposeRequest(subject_ref="propre"), []),
    ],
)
def test_every_nul_is_found_and_named_without_echoing_it(
    request_: Message, expected: list[str]
) -> None:
    found = nul_fields(request_)
    assert sorted(found) == sorted(expected)
    assert not any("\x00" in path for path in found)
