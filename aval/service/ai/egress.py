"""The operator's allow-list of AI egress, per tenant: the secrets an AI system may use and the
endpoints it may reach (AVAL_AI_EGRESS_FILE, loaded by egress_file.py).

A tenant administrator only ever names what the operator declared: a secret by the name the
operator gave it (never an environment variable), an endpoint on the tenant's allow-list. Both
are checked when an AI system is registered and again at every call. A host allowed by its name
is allowed as such; any other host name must resolve only to addresses of an allowed network,
and the connection then goes to those checked addresses, never through a second resolution.
Without an egress file nothing is allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Why a call or a registration is refused (service/advice_texts.py words them for reviewers).
ENDPOINT_NOT_ALLOWED = "ENDPOINT_NOT_ALLOWED"
ENDPOINT_UNRESOLVED = "ENDPOINT_UNRESOLVED"
SECRET_NOT_DECLARED = "SECRET_NOT_DECLARED"
SECRET_UNSET = "SECRET_UNSET"

ALL_TENANTS = "*"
SETTING = "AVAL_AI_EGRESS_FILE"
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# What inet_aton would read as an address when it ends a name (2130706433, 127.1, 0x7f000001).
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(Exception):
    """The allow-list does not permit a call; `reason` is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def host_name(text: str) -> str | None:
    """`text` as a DNS host name (lower case, without the final dot), or None when it is not one:
    an IP address, a numeric spelling of one, or anything but letters, digits, '-' and '.'."""
    name = text.lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return None if _NUMERIC_LABEL.match(labels[-1]) else name


def ip_literal(text: str) -> IPAddress | None:
    """The IP address `text` spells in its standard form (IPv6 in brackets or not), or None.

    Scoped IPv6 addresses (fe80::1%eth0) are not accepted: they name no remote host."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return None
    return None if getattr(address, "scope_id", None) else address


@dataclass(frozen=True)
class Target:
    """Where an endpoint connects: a host (a DNS name or an IP address) and a TCP port."""

    host: str
    port: int


def target_of(kind: str, endpoint: str) -> Target:
    """The host and port an endpoint of that backend kind connects to.

    Raises:
        ValueError: the endpoint is not a URL (OpenAI-compatible) or HOST:PORT (Advisor), or
            carries credentials.
    """
    if kind == "OPENAI_COMPATIBLE":
        try:
            url = httpx.URL(endpoint)  # the parser that the requests themselves go through
        except httpx.InvalidURL as error:
            raise ValueError(str(error)) from None
        if url.scheme not in _DEFAULT_PORTS or url.userinfo or not url.raw_host:
            raise ValueError("not an http(s) URL without credentials")
        return Target(url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme])
    address = endpoint.removeprefix("grpcs://").removeprefix("grpc://")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
        raise ValueError("not HOST:PORT")
    return Target(host, int(port))


@dataclass(frozen=True)
class EndpointRule:
    """One entry of a tenant's allow-list: a host name or a network, on some ports or all."""

    host: str | None = None
    network: IPNetwork | None = None
    ports: frozenset[int] | None = None

    def admits(self, port: int) -> bool:
        return self.ports is None or port in self.ports


@dataclass(frozen=True)
class TenantEgress:
    """What one tenant's AI systems may use: secret name -> environment variable, endpoints."""

    secrets: Mapping[str, str] = field(default_factory=dict)
    endpoints: tuple[EndpointRule, ...] = ()


@dataclass(frozen=True)
class WebhookTarget:
    """Where the outcomes of one application's decisions are POSTed, signed with the key held
    by a secret the operator declared for its tenant (service/webhooks/)."""

    tenant: str
    application: str
    url: str
    secret: str
    language: str = "fr"


def _effective(address: IPAddress) -> IPAddress:
    # An IPv4-mapped IPv6 address reaches the IPv4 host: only IPv4 rules may allow it.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_allowed(rules: Iterable[EndpointRule], address: IPAddress, port: int) -> bool:
    address = _effective(address)
    if address.is_unspecified or address.is_multicast:
        return False  # 0.0.0.0 and :: reach this very host; no AI system listens on a group
    return any(
        rule.network is not None
        and rule.network.version == address.version
        and address in rule.network
        and rule.admits(port)
        for rule in rules
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host`, in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class EgressPolicy:
    """The operator's allow-list of every tenant; `ALL_TENANTS` endpoints apply to each.

    Args:
        tenants: per tenant (or `ALL_TENANTS`), its secrets and endpoints.
        source: the file it comes from; None when no file is configured (nothing allowed).
        resolver: host name -> addresses, for names allowed only through a network.
        resolve_timeout: seconds a resolution may take.
    """

    def __init__(
        self,
        tenants: Mapping[str, TenantEgress],
        *,
        source: str | None,
        resolver: Resolver = system_resolver,
        resolve_timeout: float = 5.0,
        webhooks: Iterable[WebhookTarget] = (),
    ) -> None:
        self.source = source
        self._webhooks = {(w.tenant, w.application): w for w in webhooks}
        shared = tenants.get(ALL_TENANTS, TenantEgress()).endpoints
        self._secrets = {t: dict(e.secrets) for t, e in tenants.items() if t != ALL_TENANTS}
        self._shared = shared
        self._endpoints = {
            t: (*e.endpoints, *shared) for t, e in tenants.items() if t != ALL_TENANTS
        }
        self._resolver = resolver
        self._resolve_timeout = resolve_timeout

    @classmethod
    def none(cls) -> EgressPolicy:
        """The policy without an egress file: no endpoint and no secret is allowed."""
        return cls({}, source=None)

    @property
    def configured(self) -> bool:
        return self.source is not None

    def secret_names(self, tenant: str) -> list[str]:
        """The names of the secrets the operator declared for a tenant, sorted."""
        return sorted(self._secrets.get(tenant, {}))

    def declares(self, tenant: str, secret: str) -> bool:
        return secret in self._secrets.get(tenant, {})

    def api_key(self, tenant: str, secret: str) -> str | None:
        """The value of a tenant's declared secret, read now; None when `secret` is "".

        Only the operator's map is consulted: a name it does not declare for this tenant
        reads nothing, whatever variables the server has.

        Raises:
            EgressRefused: SECRET_NOT_DECLARED, or SECRET_UNSET when its variable is empty.
        """
        if not secret:
            return None
        variable = self._secrets.get(tenant, {}).get(secret)
        if variable is None:
            raise EgressRefused(SECRET_NOT_DECLARED)
        value = os.environ.get(variable, "")
        if not value:
            raise EgressRefused(SECRET_UNSET)
        return value

    def _rules(self, tenant: str) -> tuple[EndpointRule, ...]:
        return self._endpoints.get(tenant, self._shared)

    def webhook(self, tenant: str, application: str) -> WebhookTarget | None:
        """Where the outcomes of an application's decisions go, or None: it has no webhook."""
        return self._webhooks.get((tenant, application))

    @property
    def webhooks(self) -> list[WebhookTarget]:
        return list(self._webhooks.values())

    def may_reach(self, tenant: str, host: str, port: int) -> bool:
        """Whether the allow-list could admit (host, port) for a tenant, without resolving:
        an address it allows, a host it names, or a name that a network rule on that port
        may admit once its addresses are checked (at every connection)."""
        rules = self._rules(tenant)
        literal = ip_literal(host)
        if literal is not None:
            return _address_allowed(rules, literal, port)
        name = host_name(host)
        if name is None:
            return False
        return any(
            (rule.host == name or rule.network is not None) and rule.admits(port) for rule in rules
        )

    async def addresses(self, tenant: str, host: str, port: int) -> tuple[str, ...]:
        """What to connect to for (host, port) on behalf of a tenant: the host name itself
        when the allow-list names it, else the checked addresses.

        Raises:
            EgressRefused: ENDPOINT_NOT_ALLOWED, or ENDPOINT_UNRESOLVED when a name allowed
                only through a network does not resolve in time.
        """
        rules = self._rules(tenant)
        literal = ip_literal(host)
        if literal is not None:
            if _address_allowed(rules, literal, port):
                return (str(_effective(literal)),)
            raise EgressRefused(ENDPOINT_NOT_ALLOWED)
        name = host_name(host)
        if name is None:
            raise EgressRefused(ENDPOINT_NOT_ALLOWED)
        if any(rule.host == name and rule.admits(port) for rule in rules):
            return (name,)
        if not any(rule.network is not None and rule.admits(port) for rule in rules):
            raise EgressRefused(ENDPOINT_NOT_ALLOWED)
        try:
            async with asyncio.timeout(self._resolve_timeout):
                found = await self._resolver(name, port)
        except (OSError, TimeoutError, UnicodeError):
            raise EgressRefused(ENDPOINT_UNRESOLVED) from None
        checked: list[str] = []
        for text in dict.fromkeys(found):
            address = ip_literal(text.split("%", 1)[0])
            if address is None or not _address_allowed(rules, address, port):
                raise EgressRefused(ENDPOINT_NOT_ALLOWED)
            checked.append(str(_effective(address)))
        if not checked:
            raise EgressRefused(ENDPOINT_UNRESOLVED)
        return tuple(checked)

    async def endpoint_refusal(self, tenant: str, kind: str, endpoint: str) -> str | None:
        """Why a tenant's AI system may not reach `endpoint` (a reason above), or None."""
        try:
            target = target_of(kind, endpoint)
        except ValueError:
            return ENDPOINT_NOT_ALLOWED
        try:
            await self.addresses(tenant, target.host, target.port)
        except EgressRefused as refused:
            return refused.reason
        return None


def shown_endpoint(kind: str, endpoint: str) -> str:
    """HOST:PORT of an endpoint for a refusal, bounded; the endpoint itself when unparsable."""
    try:
        target = target_of(kind, endpoint)
        host = f"[{target.host}]" if ":" in target.host else target.host
        shown = f"{host}:{target.port}"
    except ValueError:
        shown = urlsplit(endpoint).netloc or endpoint
    return shown if len(shown) <= 100 else shown[:99] + "…"
