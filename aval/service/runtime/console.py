"""Starts the web console (aval/console) inside a server process: its file, its address, and
its HTTP server, which calls the gRPC server over the same internal Unix socket as the door.

The console keeps its sessions in the process's memory, so it runs in single-process servers
only (AVAL_WORKERS=1); a multi-worker server refuses a console setting at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from aval.clients.sdk.client import AsyncClient
from aval.console.app import Console, DemoPerson
from aval.console.config import ConsoleConfig, demo_console_file, load_console
from aval.console.pages import PAGES
from aval.service.audit.witnessing import load_witnesses
from aval.service.oidc.config import OidcConfig
from aval.service.runtime.door import (
    DoorSettingError,
    _Server,
    drain_http,
    serve_http,
    settle_listen,
)
from aval.service.settings import Settings

log = logging.getLogger("aval")
SETTING = "AVAL_CONSOLE_LISTEN"
# The demo's console port when the gRPC port is the default one.
DEMO_PORT = 8081


def settle_console(settings: Settings, *, demo_mode: bool) -> Settings:
    """The settings with a concrete console address and file: the demo's by default.

    Raises:
        DoorSettingError: plaintext beyond loopback, several workers, or no console file.
    """
    address = settings.console_listen
    if address is None and not demo_mode:
        return settings
    settled = settle_listen(settings, address, DEMO_PORT, SETTING)
    if settings.workers > 1:
        raise DoorSettingError(
            f"{SETTING} is set but AVAL_WORKERS={settings.workers}: the console keeps its "
            "sessions in one process; run it with AVAL_WORKERS=1 (or unset the console)"
        )
    console_file = settings.console_file
    if console_file is None and demo_mode:
        console_file = demo_console_file()
    if console_file is None:
        raise DoorSettingError(
            f"{SETTING} is set without AVAL_CONSOLE_FILE: give the console's file (the "
            "authority's name and colours, how people sign in); see docs/console.md"
        )
    return settings.model_copy(update={"console_listen": settled, "console_file": console_file})


@dataclass
class RunningConsole:
    server: _Server
    task: asyncio.Task[None]
    client: AsyncClient
    console: Console

    def close(self) -> None:
        self.server.should_exit = True

    async def wait(self, grace_seconds: float) -> None:
        """Lets requests in flight finish (event streams end with the gRPC server's), then
        closes the console's clients."""
        await drain_http(self.server, self.task, grace_seconds)
        await self.console.aclose()
        await self.client.close()


def load_console_config(settings: Settings, oidc: OidcConfig | None) -> ConsoleConfig | None:
    if settings.console_listen is None or settings.console_file is None:
        return None
    return load_console(Path(settings.console_file), oidc)


async def start_console(
    settings: Settings,
    grpc_socket: Path,
    config: ConsoleConfig,
    demo_people: list[DemoPerson],
) -> RunningConsole:
    assert settings.console_listen is not None
    client = AsyncClient(f"unix:{grpc_socket}", None, timeout=30)
    # Secure cookies behind TLS: the server's own, or a TLS-terminating proxy in front of a
    # plaintext listener (AVAL_ALLOW_PLAINTEXT says there is one).
    secure = settings.tls_cert_file is not None or settings.allow_plaintext
    witnesses = load_witnesses(settings.witnesses_file) if settings.witnesses_file else []
    console = Console(
        config,
        client,
        secure=secure,
        demo_people=demo_people,
        pages=PAGES,
        witnesses=[w.key for w in witnesses],
    )
    try:
        server, task = await serve_http(
            console.app(), settings.console_listen, settings, False, setting=SETTING
        )
    except BaseException:
        await client.close()
        raise
    scheme = "https" if secure else "http"
    log.info("console on %s://%s (%s)", scheme, settings.console_listen, config.authority.name)
    if demo_people:
        log.info(
            "console demo sign-in: open %s://%s/ and choose %s",
            scheme,
            settings.console_listen,
            ", ".join(p.name for p in demo_people),
        )
    return RunningConsole(server, task, client, console)
