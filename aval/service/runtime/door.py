"""Starts the HTTP/JSON door (service/edge/door) inside a server process: its listening socket,
the Unix socket its loopback channel reaches the gRPC server by, and the HTTP server itself.

The door reaches the gRPC server over a Unix socket in a folder only the server's user may
enter, so that its calls take neither the network nor the TLS of the gRPC port, and nobody else
on the host can call the gRPC server unauthenticated by that path (they still need a token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from aval.contract.addresses import is_loopback_host
from aval.service.edge.admission import receive_limit
from aval.service.edge.door.app import Authenticate, Door
from aval.service.settings import Settings

log = logging.getLogger("aval")
# A connection must bring a request's headers within this many seconds of opening (or of its
# previous response): a client dripping them a byte at a time holds nothing for long.
HEADER_SECONDS = 10.0
# Idle keep-alive connections are closed after this many seconds.
KEEP_ALIVE_SECONDS = 5
# Connections and requests in flight at once on one door; more are answered 503 at once.
MAX_CONNECTIONS = 512
# The longest a Unix socket path may be (108 bytes on Linux, with room for the NUL).
_UNIX_PATH_LIMIT = 100
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "contract" / "openapi.json"


class DoorSettingError(ValueError):
    """AVAL_HTTP_LISTEN (or its TLS) cannot be used; the message names the fix."""


def split_address(address: str, setting: str = "AVAL_HTTP_LISTEN") -> tuple[str, int]:
    """("host", port) of "host:port" ("[::1]:8080" too)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise DoorSettingError(f"{setting}={address!r} is not HOST:PORT: give e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def check_http_settings(settings: Settings) -> None:
    """Refuses a door that would speak plaintext beyond loopback, or half-configured TLS."""
    if settings.http_listen is not None:
        check_listen(settings, settings.http_listen, "AVAL_HTTP_LISTEN")


def check_listen(settings: Settings, address: str, setting: str) -> None:
    """Refuses an HTTP address that would speak plaintext beyond loopback, or half-configured
    TLS (the gRPC port's certificate serves every HTTP listener of the server)."""
    host, _ = split_address(address, setting)
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if (cert is None) != (key is None):
        raise DoorSettingError(
            "AVAL_TLS_CERT_FILE and AVAL_TLS_KEY_FILE go together: set both, or neither"
        )
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise DoorSettingError(f"{path}: no such file; check AVAL_TLS_CERT_FILE/KEY_FILE")
    if cert is None and not is_loopback_host(host) and not settings.allow_plaintext:
        raise DoorSettingError(
            f"{setting}={address} is not a loopback address and no TLS "
            "certificate is set: set AVAL_TLS_CERT_FILE and AVAL_TLS_KEY_FILE, or "
            "AVAL_ALLOW_PLAINTEXT=true behind a TLS-terminating proxy"
        )


def settle_http_listen(settings: Settings, *, demo_mode: bool) -> Settings:
    """The settings with a concrete door address: the demo's default (the gRPC host, port
    8080, or a free port when the gRPC port is chosen by the system), and a free port for 0."""
    address = settings.http_listen
    if address is None and not demo_mode:
        return settings
    settled = settle_listen(settings, address, 8080, "AVAL_HTTP_LISTEN")
    return settings.model_copy(update={"http_listen": settled})


def settle_listen(settings: Settings, address: str | None, demo_port: int, setting: str) -> str:
    """A concrete HTTP address, checked: `address`, else the demo's (the gRPC host and
    `demo_port`, or a free port when the gRPC port is chosen by the system); a free port for
    port 0.

    Raises:
        DoorSettingError: a malformed address, or plaintext beyond loopback.
    """
    if address is None:
        grpc_host, grpc_port = split_address(settings.listen, "AVAL_LISTEN")
        address = f"{grpc_host}:{demo_port if grpc_port else 0}"
    host, port = split_address(address, setting)
    if port == 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    check_listen(settings, address, setting)
    return address


def internal_socket(data_dir: Path) -> Path:
    """A fresh Unix socket path for this process's gRPC server, in a 0700 folder."""
    folder = data_dir / "sockets"
    name = f"grpc-{os.getpid()}.sock"
    if len(str(folder / name)) > _UNIX_PATH_LIMIT:
        folder = Path(tempfile.mkdtemp(prefix="aval-"))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    path.unlink(missing_ok=True)
    return path


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection that does not bring a request's
    headers within HEADER_SECONDS (uvicorn itself waits for ever)."""

    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADER_SECONDS, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the server process handles SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@dataclass
class RunningDoor:
    server: _Server
    task: asyncio.Task[None]
    channel: grpc.aio.Channel
    address: str

    def close(self) -> None:
        """Stops taking connections; requests in flight go on (see `wait`)."""
        self.server.should_exit = True

    async def wait(self, grace_seconds: float) -> None:
        """Lets requests in flight finish, then closes the channel. Call it once the gRPC
        server is stopping: its streams then end, and so the door's, with an end message."""
        await drain_http(self.server, self.task, grace_seconds)
        await self.channel.close(None)


async def drain_http(server: _Server, task: asyncio.Task[None], grace_seconds: float) -> None:
    """Stops an HTTP server of `serve_http`: requests in flight get `grace_seconds` (and 2 s
    more), then the server is forced to exit."""
    server.should_exit = True
    try:
        async with asyncio.timeout(grace_seconds + 2):
            await task
    except TimeoutError:
        server.force_exit = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _listening_socket(address: str, share_port: bool, setting: str) -> socket.socket:
    host, port = split_address(address, setting)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DoorSettingError(
            f"cannot listen on {address} for HTTP: {exc}; choose another {setting}"
        ) from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def start_door(
    settings: Settings, grpc_socket: Path, authenticate: Authenticate, *, share_port: bool
) -> RunningDoor:
    """Serves the door on `settings.http_listen` until `stop`, calling the gRPC server over
    `grpc_socket`."""
    assert settings.http_listen is not None
    limit = receive_limit(settings.max_payload_bytes)
    channel = grpc.aio.insecure_channel(
        f"unix:{grpc_socket}", options=[("grpc.max_receive_message_length", -1)]
    )
    door = Door(
        channel,
        authenticate,
        limit=limit,
        slots=settings.max_concurrent_requests,
        openapi=OPENAPI_FILE,
    )
    server, task = await serve_http(door.app(), settings.http_listen, settings, share_port)
    scheme = "https" if settings.tls_cert_file else "http"
    log.info("HTTP/JSON door on %s://%s", scheme, settings.http_listen)
    return RunningDoor(server, task, channel, settings.http_listen)


async def serve_http(
    app: Any,
    address: str,
    settings: Settings,
    share_port: bool,
    *,
    setting: str = "AVAL_HTTP_LISTEN",
) -> tuple[_Server, asyncio.Task[None]]:
    """Serves an ASGI app on `address` with the server's TLS (and client CA), uvicorn's limits
    and header deadline; returns once it listens.

    Raises:
        DoorSettingError: the address cannot be listened on.
    """
    sock = _listening_socket(address, share_port, setting)
    config = uvicorn.Config(
        app,
        http=_Protocol,
        lifespan="off",
        access_log=False,
        log_config=None,  # the server's logging stays as configure_logging set it
        log_level="warning",
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # After the gRPC server's own grace, which ends the calls the door waits on.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
        limit_concurrency=MAX_CONNECTIONS,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        # Mutual TLS on the gRPC port means every caller proves a certificate of the client CA:
        # the door asks the same of its callers, so it is no way around it (they still need a
        # token: the certificate is not forwarded over the internal hop).
        ssl_ca_certs=str(settings.tls_client_ca_file) if settings.tls_client_ca_file else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if settings.tls_client_ca_file else ssl.CERT_NONE,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.01)
    if task.done():
        await task  # raises what stopped it
        raise DoorSettingError(f"the HTTP server on {address} did not start; see the log")
    return server, task
