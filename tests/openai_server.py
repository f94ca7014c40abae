"""A real OpenAI-compatible chat-completions server on loopback, with scripted behaviours.

It speaks HTTP/1.1 (keep-alive) over asyncio streams, with the standard library only:
`POST /v1/chat/completions` and `GET /v1/models`. What it answers depends on the requested
model's name, or on `--behaviour` for every model:

    good (or any other name)  a classifier-like answer in the requested `response_format`
                              json_schema: enum values named in the case are chosen,
                              optional (nullable) properties are null; usage tokens are
                              reported; the model echoed is the one asked
    garbage                   a message that is not JSON
    invalid                   valid JSON whose suggestion breaks the schema (enum value)
    wrong-fields              valid JSON without the expected envelope
    impostor                  a good answer that says another model answered
    no-usage                  a good answer without usage
    slow[-SECONDS]            a good answer after SECONDS (default 30)
    fail-CODE[-N]             HTTP CODE N times, then good answers (without N: always);
                              a 401 quotes the key it was given, as some servers do
    flaky-N                   fail-500-N

A name may end in `+anything`, ignored but counted apart: `flaky-2+test-a` and
`flaky-2+test-b` fail twice each.

    python -m tests.openai_server --listen 127.0.0.1:0 [--behaviour NAME]

prints one line `listening on 127.0.0.1:PORT` and serves until SIGTERM. In tests:

    async with OpenAIServer() as server:
        server.url          # "http://127.0.0.1:PORT/v1"
        server.requests     # what it received: headers (lower-case names) and JSON bodies
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_BEHAVIOUR = re.compile(
    r"^(?P<name>good|garbage|nested-body|nested|invalid|wrong-fields|impostor|no-usage|slow|fail|flaky)"
    r"(?:-(?P<args>[0-9.]+(?:-[0-9]+)?))?(?:\+.*)?$"
)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
MODELS = (
    "good",
    "garbage",
    "nested",
    "nested-body",
    "invalid",
    "wrong-fields",
    "impostor",
    "no-usage",
    "slow",
    "flaky-2",
)
# JSON nested deeper than a parser without its own limit reads (a hostile AI system's answer).
NESTED = "[" * 5000 + "]" * 5000


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Reply:
    status: int
    body: Any
    delay: float = 0.0


@dataclass
class OpenAIServer:
    """The server, started and stopped from a test's event loop."""

    host: str = "127.0.0.1"
    port: int = 0
    behaviour: str | None = None
    slow_seconds: float = 30.0
    requests: list[Recorded] = field(default_factory=list)
    _failures: dict[str, int] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        """The base URL an OpenAI client is given, ending in /v1."""
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> OpenAIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                reply = self._answer(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                keep = request.headers.get("connection", "").lower() != "close"
                writer.write(_response_bytes(reply, keep))
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, request: Recorded) -> _Reply:
        path = request.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            if request.method != "GET":
                return _error(405, "use GET")
            models = [{"id": m, "object": "model", "owned_by": "aval-tests"} for m in MODELS]
            return _Reply(200, {"object": "list", "data": models})
        if path != "/v1/chat/completions":
            return _error(404, f"no route {path}")
        if request.method != "POST":
            return _error(405, "use POST")
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400, "the body must be a JSON object with a model")
        return self._complete(body, request.headers)

    def _complete(self, body: dict[str, Any], headers: dict[str, str]) -> _Reply:
        model: str = body["model"]
        match = _BEHAVIOUR.match(self.behaviour or model)
        name = match.group("name") if match else "good"
        args = (match.group("args") or "") if match else ""
        if name in ("fail", "flaky"):
            code, _, times = args.partition("-") if name == "fail" else ("500", "", args)
            served = self._failures.get(model, 0)
            if not times or served < int(times):
                self._failures[model] = served + 1
                status, limit = int(code or 500), times or "∞"
                if status == 401:  # as some servers do, quoting the key it refuses
                    token = headers.get("authorization", "").removeprefix("Bearer ")
                    return _error(401, f"Incorrect API key provided: {token}")
                return _error(status, f"scripted failure {served + 1} of {limit}")
        delay = (float(args) if args else self.slow_seconds) if name == "slow" else 0.0
        schema = _suggestion_schema(body)
        case_text = " ".join(
            str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
        )
        envelope = _classify(schema, case_text)
        if name == "invalid":
            envelope["suggestion"] = _violate(schema, envelope["suggestion"])
        if name == "wrong-fields":
            envelope = {"answer": envelope["suggestion"], "certainty": "high"}
        if name == "nested-body":
            return _Reply(200, NESTED.encode(), delay)
        content = "Bien sûr ! Voici ma réponse : voirie." if name == "garbage" else None
        if name == "nested":
            content = NESTED
        if content is None:
            content = json.dumps(envelope, ensure_ascii=False)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        reply: dict[str, Any] = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "impostor-1" if name == "impostor" else model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
        if name != "no-usage":
            prompt, completion = prompt_chars // 4 + 1, len(content) // 4 + 1
            reply["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return _Reply(200, reply, delay)


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": {"message": message, "type": "scripted", "code": status}})


def _suggestion_schema(body: dict[str, Any]) -> dict[str, Any]:
    """The schema of the suggestion inside the requested envelope, if the request has one."""
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    suggestion = (schema.get("properties") or {}).get("suggestion")
    return suggestion if isinstance(suggestion, dict) else {"type": "object", "properties": {}}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _classify(schema: dict[str, Any], case_text: str) -> dict[str, Any]:
    """An envelope whose suggestion satisfies `schema`: a keyword classifier for enums."""
    factors: list[dict[str, Any]] = []
    suggestion = _value(schema, _fold(case_text), factors)
    named = ", ".join(f"« {f['name']} »" for f in factors) or "aucun mot-clé"
    return {
        "suggestion": suggestion,
        "confidence": 0.87 if factors else 0.41,
        "rationale": f"Suggestion fondée sur les termes du dossier : {named}.",
        "factors": factors or [{"name": "dossier", "weight": 0.1}],
    }


def _value(spec: dict[str, Any], text: str, factors: list[dict[str, Any]]) -> Any:
    if "anyOf" in spec:  # a property the decision type leaves optional: left out (null)
        return None
    kind = spec.get("type")
    if kind == "object":
        return {
            name: _value(sub, text, factors) for name, sub in spec.get("properties", {}).items()
        }
    if kind == "string":
        if "enum" in spec:
            for choice in spec["enum"]:
                if _fold(choice) in text:
                    factors.append({"name": choice, "weight": 0.8})
                    return choice
            return spec["enum"][0]
        word = "suggestion de test"
        word = word[: spec.get("maxLength", len(word))]
        return word.ljust(spec.get("minLength", 0), ".")
    if kind in ("integer", "number"):
        low, high = spec.get("minimum"), spec.get("maximum")
        value = 1 if kind == "integer" else 0.5
        value = max(value, low) if low is not None else value
        return min(value, high) if high is not None else value
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(spec.get("items", {}), text, factors)] * spec.get("minItems", 0)
    return None


def _violate(schema: dict[str, Any], suggestion: dict[str, Any]) -> dict[str, Any]:
    """The suggestion with one value outside its schema: an enum, else a type, else a field."""
    broken = dict(suggestion)
    properties = schema.get("properties", {})
    for name, spec in properties.items():
        options = spec.get("anyOf", [spec])
        if any("enum" in o for o in options):
            broken[name] = "hors-liste"
            return broken
    for name, spec in properties.items():
        if spec.get("type") in ("integer", "number"):
            broken[name] = str(suggestion.get(name))
            return broken
    broken["inattendu"] = True
    return broken


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        data = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            data += chunk[:-2]
    else:
        data = bytearray(await reader.readexactly(int(headers.get("content-length", "0"))))
    body: Any = None
    if data:
        try:
            body = json.loads(data)
        except ValueError:
            body = bytes(data).decode("utf-8", "replace")
    return Recorded(method, target, headers, body)


def _response_bytes(reply: _Reply, keep_alive: bool) -> bytes:
    payload = (
        reply.body
        if isinstance(reply.body, bytes)  # raw bytes, e.g. JSON no parser should follow
        else json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
    )
    reason = _REASONS.get(reply.status, "Error")
    head = (
        f"HTTP/1.1 {reply.status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + payload


async def _main(host: str, port: int, behaviour: str | None) -> None:
    server = OpenAIServer(host=host, port=port, behaviour=behaviour)
    await server.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    print(f"listening on {server.host}:{server.port}", flush=True)
    await stopped.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free)")
    parser.add_argument("--behaviour", help="answer every model as this one (see the module)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--listen takes HOST:PORT, e.g. 127.0.0.1:0")
    asyncio.run(_main(host, int(port), args.behaviour))
    return 0


if __name__ == "__main__":
    sys.exit(main())
