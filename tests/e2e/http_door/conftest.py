"""A real `aval serve` with its HTTP/JSON door on, and a plain-HTTP client (what a PHP or Java
application without gRPC would use: urllib, no Aval code)."""

from __future__ import annotations

import http.client
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import ServerProcess, token_of

STREAM_TYPE = "application/connect+json"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def reason(self) -> str:
        """The ErrorInfo reason of a Connect error answer."""
        for detail in self.json.get("details", ()):
            if detail["type"] == "google.rpc.ErrorInfo":
                return str(detail["debug"]["reason"])
        raise AssertionError(f"no ErrorInfo in {self.body!r}")

    def violations(self) -> list[str]:
        for detail in self.json.get("details", ()):
            if detail["type"] == "google.rpc.BadRequest":
                return [v["reason"] for v in detail["debug"]["fieldViolations"]]
        return []


@dataclass
class Http:
    """The door at `address`, spoken to with http.client only."""

    address: str

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            connection.request(
                method, path, body=body, headers=headers or {}, encode_chunked=chunked
            )
            response = connection.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def call(self, path: str, message: Any, principal: str | None, **headers: str) -> Answer:
        """POSTs `message` as JSON to /aval.v1.<Service>/<Method> with the principal's token."""
        sent = {"Content-Type": "application/json", **headers}
        if principal is not None:
            sent["Authorization"] = f"Bearer {token_of(principal)}"
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        return self.request("POST", path, body, sent)

    def stream(self, path: str, message: Any, principal: str) -> tuple[list[Any], Any]:
        """Calls a server stream; returns its messages and its end-of-stream JSON."""
        payload = json.dumps(message).encode()
        answer = self.request(
            "POST",
            path,
            b"\x00" + struct.pack(">I", len(payload)) + payload,
            {"Content-Type": STREAM_TYPE, "Authorization": f"Bearer {token_of(principal)}"},
        )
        assert answer.status == 200, answer.body
        assert answer.headers["content-type"].startswith(STREAM_TYPE)
        messages, end, rest = [], None, answer.body
        while rest:
            flags, size = rest[0], struct.unpack(">I", rest[1:5])[0]
            payload, rest = rest[5 : 5 + size], rest[5 + size :]
            if flags & 0x02:
                end = json.loads(payload)
                assert not rest, "bytes after the end of the stream"
            else:
                messages.append(json.loads(payload))
        assert end is not None, "the stream had no end message"
        return messages, end


@pytest.fixture(scope="package")
def door_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway with its door on a free loopback port: (process, HTTP address)."""
    process = ServerProcess.start(
        database_url,
        tmp_path_factory.mktemp("door-server"),
        extra_env={"AVAL_HTTP_LISTEN": "127.0.0.1:0"},
    )
    exported = process.read_exports(1)
    yield process, exported["AVAL_HTTP_ADDRESS"]
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="package")
def door(door_server: tuple[ServerProcess, str]) -> Http:
    return Http(door_server[1])
