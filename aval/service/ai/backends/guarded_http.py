"""An httpx transport whose every new connection goes only where the egress policy allows.

The policy is asked again when a connection opens, with the host exactly as the HTTP client
parsed it: a host allowed by its name is connected to by name, any other is connected to the
addresses the policy checked, so that a second DNS answer cannot redirect the connection.
Environment proxies and .netrc credentials are ignored: they would send a key elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from aval.service.ai.egress import EgressRefused

# (host, port) -> what to connect to; raises EgressRefused.
Addresses = Callable[[str, int], Awaitable[tuple[str, ...]]]


class _GuardedNetwork(httpcore.AsyncNetworkBackend):
    def __init__(self, addresses: Addresses) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._addresses = addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                targets = await self._addresses(host, port)
        except EgressRefused:
            raise httpcore.ConnectError("not on the egress allow-list") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout("no address in time") from None
        failure: Exception = httpcore.ConnectError("no address")
        for target in targets:
            try:
                return await self._inner.connect_tcp(
                    target, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not AI endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, connecting through the egress policy."""

    def __init__(self, addresses: Addresses) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        # The pool httpx builds, with a network layer that asks the policy before connecting.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedNetwork(addresses),
        )
