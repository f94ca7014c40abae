"""Hostile AI systems (an OpenAI-compatible server and an Advisor) and what the probes share."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from aval.clients import Client
from aval.v1 import advisor_pb2, advisor_pb2_grpc
from tests.e2e.helpers import all_events

FREE_SCHEMA = {
    "type": "object",
    "properties": {"service": {"type": "string"}, "note": {"type": "string"}},
    "required": ["service"],
    "additionalProperties": False,
}


def _completion(
    content: Any = None, *, model: str = "m", rationale: str = "ok", factors: Any = ()
) -> str:
    """An OpenAI chat completion whose message content is `content` (a suggestion envelope by
    default), serialised with ensure_ascii so that escapes such as \\u0000 travel as such."""
    if content is None:
        content = {
            "suggestion": {"service": "voirie"},
            "confidence": 0.5,
            "rationale": rationale,
            "factors": list(factors),
        }
    text = content if isinstance(content, str) else json.dumps(content)
    return json.dumps(
        {
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
    )


def _envelope(suggestion: Any, **extra: Any) -> dict[str, Any]:
    return {"suggestion": suggestion, "confidence": 0.5, "rationale": "ok", "factors": [], **extra}


# What a hostile or broken AI system answers: strings PostgreSQL cannot store (NUL, and lone
# surrogates, which no UTF-8 holds) in every place of its answer the gateway keeps or shows.
HOSTILE_ANSWERS: dict[str, str] = {
    "nul-rationale": _completion(rationale="avant\x00après"),
    "surrogate-rationale": _completion(rationale="avant\ud800après"),
    "nul-suggestion": _completion(_envelope({"service": "voi\x00rie"})),
    "surrogate-suggestion": _completion(_envelope({"service": "voi\udfffrie"})),
    "nul-optional": _completion(_envelope({"service": "voirie", "note": "\x00"})),
    "nul-key": _completion(_envelope({"service": "voirie", "cl\x00é": 1})),
    "surrogate-key": _completion(_envelope({"service": "voirie", "cl\ud800é": 1})),
    "nul-wrong-type": _completion(_envelope({"service": ["\x00"]})),
    "nul-factor-name": _completion(factors=[{"name": "re\x00venu", "weight": 0.5}]),
    "nul-factor-value": _completion(
        factors=[{"name": "revenu", "weight": 0.5, "value": "\ud83d\x00"}]
    ),
    "nul-model": _completion(model="m\x00odel"),
    "surrogate-model": _completion(model="m\udc00"),
    "nul-extra-field": _completion(_envelope({"service": "voirie"}, **{"ex\x00tra": 1})),
    "nul-content": _completion("\x00"),
}
# A version name no model has: it would be kept in every event, call row and report.
HOSTILE_ANSWERS["long-model"] = _completion(model="m" * 200_000)
# Token counts no call consumes, which the usage rows and reports must survive.
HUGE_USAGE: dict[str, tuple[int, int]] = {
    "usage-beyond-bigint": (10**30, 1),
    "usage-at-bigint": (2**63 - 1, 2**63 - 1),
}
for _name, (_prompt, _completion_tokens) in HUGE_USAGE.items():
    _reply = json.loads(_completion())
    _reply["usage"] = {"prompt_tokens": _prompt, "completion_tokens": _completion_tokens}
    HOSTILE_ANSWERS[_name] = json.dumps(_reply)


class HostileAI(ThreadingHTTPServer):
    """An OpenAI-compatible server on loopback answering by the path's first segment."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: HostileAI

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = HOSTILE_ANSWERS[self.path.split("/")[1]].encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HostileAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """An Advisor whose answers hold NUL characters wherever a string may be."""

    def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.ServicerContext
    ) -> advisor_pb2.SuggestResponse:
        where = request.decision_type.rsplit("_", 1)[-1]
        suggestion = struct_pb2.Struct()
        suggestion.update({"service": "voi\x00rie" if where == "suggestion" else "voirie"})
        if where == "key":
            suggestion.update({"cl\x00é": "x"})
        response = advisor_pb2.SuggestResponse(suggestion=suggestion, confidence=0.5)
        if where == "longversion":
            response.model_version = "v" * 200_000
        if where == "manyfactors":
            for i in range(5000):
                factor = response.explanation.factors.add()
                factor.name, factor.weight, factor.value = f"{i}" + "f" * 100, 0.1, "v" * 100
        if where == "longfactor":
            factor = response.explanation.factors.add()
            factor.name, factor.weight, factor.value = "f" * 200_000, 0.1, "v" * 200_000
        if where == "manysources":
            response.explanation.sources.extend(["s" * 200] * 5000)
        if where == "usage":
            response.usage.input_tokens = response.usage.output_tokens = 2**63 - 1
        response.explanation.summary = "a\x00b" if where == "summary" else "ok"
        if where == "version":
            response.model_version = "m\x00"
        if where == "factor":
            factor = response.explanation.factors.add()
            factor.name, factor.weight = "re\x00venu", 0.5
        if where == "source":
            response.explanation.sources.append("ré\x00f")
        return response


ADVISOR_PLACES = (
    "suggestion",
    "key",
    "summary",
    "version",
    "factor",
    "source",
    "usage",
    "longversion",
    "manyfactors",
    "longfactor",
    "manysources",
)


def _type(behaviour: str) -> str:
    return "hostile." + behaviour.replace("-", "_")


def _views(as_: Callable[[str], Client], decision_id: str) -> str:
    texts = [
        str(as_("app-a").get_decision(decision_id)),
        str(as_("sup-a1").get_decision(decision_id)),
        str([d for d in as_("sup-a1").list_queue(page_size=500).decisions if d.id == decision_id]),
    ]
    for event in all_events(as_("insp-a"), decision_id=decision_id):
        texts.append(json.dumps(json_format.MessageToDict(event.data), ensure_ascii=False))
    for audience in ("inspector", "citizen"):
        texts.append(as_("insp-a").explain_decision(decision_id, audience=audience).text)
    return "\n".join(texts)
