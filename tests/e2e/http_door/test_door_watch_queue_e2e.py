"""WatchQueue through the HTTP/JSON door: a live stream a browser-side console can read, the
new proposal in it within 2 s; an application is refused as over gRPC."""

from __future__ import annotations

import http.client
import json
import struct
import time

import pytest

from tests.support import token_of

from .conftest import STREAM_TYPE, Http
from .test_door_flow_e2e import GATEWAY, proposal

pytestmark = pytest.mark.e2e

WATCH = "/aval.v1.Review/WatchQueue"


def _frame(response: http.client.HTTPResponse) -> tuple[int, dict[str, object]]:
    head = response.read(5)
    flags, size = head[0], struct.unpack(">I", head[1:5])[0]
    return flags, json.loads(response.read(size))


def test_a_proposal_reaches_a_queue_watched_through_the_door(door: Http) -> None:
    host, port = door.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        payload = b"{}"
        connection.request(
            "POST",
            WATCH,
            body=b"\x00" + struct.pack(">I", len(payload)) + payload,
            headers={"Content-Type": STREAM_TYPE, "Authorization": f"Bearer {token_of('sup-a1')}"},
        )
        response = connection.getresponse()
        assert response.status == 200
        time.sleep(0.3)
        started = time.monotonic()
        made = door.call(f"{GATEWAY}/Propose", proposal(), "app-a")
        assert made.status == 200, made.body
        decision_id = made.json["decision"]["id"]
        while True:
            flags, message = _frame(response)
            assert not flags & 0x02, message  # not the end of the stream
            if message["decisionId"] == decision_id:
                break
        assert time.monotonic() - started < 2.0
        assert message["change"] == "proposed" and message["version"] == "1"
    finally:
        connection.close()


def test_an_application_may_not_watch_the_queue_through_the_door(door: Http) -> None:
    messages, end = door.stream(WATCH, {}, "app-a")
    assert messages == []
    assert end["error"]["code"] == "permission_denied"
