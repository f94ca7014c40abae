"""The witness's HTTP server against a peer that opens connections and sends nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aval.witness.protocol import Witness
from aval.witness.server import BoundedHTTPServer, _handler

from .test_witness_protocol import Log, witness  # noqa: F401  (the fixture)


@pytest.fixture
def log() -> Log:
    return Log()


def _serve(served: Witness, limit: int, idle: float) -> Iterator[tuple[str, int]]:
    httpd = BoundedHTTPServer(("127.0.0.1", 0), _handler(served, idle), limit=limit)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        yield str(host), int(port)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def small(witness: Witness) -> Iterator[tuple[str, int]]:  # noqa: F811
    yield from _serve(witness, limit=2, idle=0.5)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection (EOF) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _get(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_idle_peer_is_dropped_and_one_over_the_limit_is_refused_at_once(
    small: tuple[str, int], tmp_path: Path
) -> None:
    idle = [socket.create_connection(small, timeout=5) for _ in range(2)]
    time.sleep(0.1)  # both taken by a thread each
    over = socket.create_connection(small, timeout=5)
    assert _closed_within(over, 0.4), "a connection over the limit must be closed at once"
    over.close()
    # The idle peers are dropped after the idle time, and their slots are free again.
    assert all(_closed_within(sock, 3.0) for sock in idle)
    for sock in idle:
        sock.close()
    time.sleep(0.1)
    assert _get(small).startswith(b"HTTP/1.1 200"), "the witness serves again once slots are free"


def test_a_peer_that_stops_mid_body_is_dropped(small: tuple[str, int]) -> None:
    with socket.create_connection(small, timeout=5) as sock:
        sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 1000\r\n\r\nold")
        assert _closed_within(sock, 3.0)
