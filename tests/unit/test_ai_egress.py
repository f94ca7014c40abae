"""The operator's AI egress allow-list (service/egress.py): what a tenant's AI systems may reach
and which secrets they may read, whatever the spelling of a host (issue 10, items 1 and 5)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from aval.service.ai.egress import (
    ENDPOINT_NOT_ALLOWED,
    ENDPOINT_UNRESOLVED,
    SECRET_NOT_DECLARED,
    SECRET_UNSET,
    EgressPolicy,
    EgressRefused,
    EndpointRule,
    TenantEgress,
    host_name,
    ip_literal,
    target_of,
)

RESOLVED = {
    "inside.example": ["10.1.2.3", "10.1.2.4"],
    "split.example": ["10.1.2.3", "169.254.169.254"],  # one address outside: refused
    "mapped.example": ["::ffff:10.1.2.3"],
    "escape.example": ["::ffff:169.254.169.254"],
    "albert.example": ["203.0.113.5"],
    "zero.example": ["0.0.0.0"],
    "nothing.example": [],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    if host == "slow.example":
        await asyncio.sleep(10)
    if host not in RESOLVED:
        raise OSError("no such name")
    return RESOLVED[host]


def policy() -> EgressPolicy:
    network = ipaddress.ip_network
    return EgressPolicy(
        {
            "ville-a": TenantEgress(
                {"albert": "AVAL_TEST_EGRESS_ALBERT", "vide": "AVAL_TEST_EGRESS_EMPTY"},
                (
                    EndpointRule(host="albert.example", ports=frozenset({443})),
                    EndpointRule(network=network("10.1.0.0/16"), ports=frozenset({8000})),
                ),
            ),
            "ville-b": TenantEgress({"mistral": "AVAL_TEST_EGRESS_MISTRAL"}),
            "*": TenantEgress(endpoints=(EndpointRule(network=network("127.0.0.1/32")),)),
        },
        source="egress.yaml",
        resolver=fake_resolver,
        resolve_timeout=0.2,
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("albert.example", "albert.example"),
        ("ALBERT.Example.", "albert.example"),
        ("localhost", "localhost"),
        ("2130706433", None),
        ("0x7f000001", None),
        ("127.1", None),
        ("017700000001", None),
        ("127.0.0.1", None),
        ("a..b", None),
        ("-a.example", None),
        ("ex ample.com", None),
        ("%31%32%37.0.0.1", None),
        ("évil.fr", None),
        ("", None),
    ],
)
def test_only_dns_names_are_host_names(text: str, name: str | None) -> None:
    assert host_name(text) == name


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", None),
        ("0177.0.0.1", None),
        ("2130706433", None),
    ],
)
def test_ip_literals_are_standard_spellings_only(text: str, address: str | None) -> None:
    found = ip_literal(text)
    assert (str(found) if found is not None else None) == address


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("albert.example", 443, ("albert.example",)),  # allowed by name: as such
        ("ALBERT.EXAMPLE.", 443, ("albert.example",)),
        ("inside.example", 8000, ("10.1.2.3", "10.1.2.4")),  # through a network: checked
        ("mapped.example", 8000, ("10.1.2.3",)),
        ("10.1.9.9", 8000, ("10.1.9.9",)),
        ("[::ffff:10.1.9.9]", 8000, ("10.1.9.9",)),
        ("127.0.0.1", 1, ("127.0.0.1",)),  # every tenant's, every port
    ],
)
async def test_allowed_endpoints_give_what_to_connect_to(
    host: str, port: int, expected: tuple[str, ...]
) -> None:
    assert await policy().addresses("ville-a", host, port) == expected


@pytest.mark.parametrize(
    ("tenant", "host", "port", "reason"),
    [
        ("ville-a", "albert.example", 80, ENDPOINT_NOT_ALLOWED),  # another port
        ("ville-b", "albert.example", 443, ENDPOINT_NOT_ALLOWED),  # another tenant's
        ("ville-a", "split.example", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "escape.example", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "zero.example", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "inside.example", 9000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "0.0.0.0", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "::", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "[::1]", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "::ffff:169.254.169.254", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "127.0.0.2", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "2130706433", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "0x7f000001", 8000, ENDPOINT_NOT_ALLOWED),
        ("ville-a", "localhost", 8000, ENDPOINT_UNRESOLVED),
        ("ville-a", "nothing.example", 8000, ENDPOINT_UNRESOLVED),
        ("ville-a", "slow.example", 8000, ENDPOINT_UNRESOLVED),
        ("ville-c", "10.1.2.3", 8000, ENDPOINT_NOT_ALLOWED),  # not in the file: "*" only
    ],
)
async def test_every_other_endpoint_is_refused(
    tenant: str, host: str, port: int, reason: str
) -> None:
    with pytest.raises(EgressRefused) as refused:
        await policy().addresses(tenant, host, port)
    assert refused.value.reason == reason


async def test_without_a_file_nothing_is_allowed() -> None:
    none = EgressPolicy.none()
    assert not none.configured and none.secret_names("ville-a") == []
    for host in ("127.0.0.1", "localhost", "albert.example"):
        with pytest.raises(EgressRefused):
            await none.addresses("ville-a", host, 443)
    with pytest.raises(EgressRefused):
        none.api_key("ville-a", "PATH")


def test_secrets_are_read_only_through_the_tenants_own_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AVAL_TEST_EGRESS_ALBERT", "sk-albert")
    monkeypatch.setenv("AVAL_TEST_EGRESS_MISTRAL", "sk-mistral")
    monkeypatch.delenv("AVAL_TEST_EGRESS_EMPTY", raising=False)
    egress = policy()
    assert egress.api_key("ville-a", "albert") == "sk-albert"
    assert egress.api_key("ville-a", "") is None
    assert egress.secret_names("ville-a") == ["albert", "vide"]
    for tenant, name in [
        ("ville-b", "albert"),
        ("ville-a", "mistral"),
        ("ville-a", "AVAL_TEST_EGRESS_ALBERT"),
        ("ville-a", "PATH"),
        ("ville-c", "albert"),
        ("*", "albert"),
    ]:
        with pytest.raises(EgressRefused) as refused:
            egress.api_key(tenant, name)
        assert refused.value.reason == SECRET_NOT_DECLARED, (tenant, name)
    with pytest.raises(EgressRefused) as unset:
        egress.api_key("ville-a", "vide")
    assert unset.value.reason == SECRET_UNSET


@pytest.mark.parametrize(
    ("kind", "endpoint", "host", "port"),
    [
        ("OPENAI_COMPATIBLE", "http://albert.example/v1", "albert.example", 80),
        ("OPENAI_COMPATIBLE", "https://albert.example/v1", "albert.example", 443),
        ("OPENAI_COMPATIBLE", "http://[::1]:8000/v1", "::1", 8000),
        ("OPENAI_COMPATIBLE", "http://127.0.0.1:80@evil.example/v1", None, None),
        ("OPENAI_COMPATIBLE", "http://user@albert.example/v1", None, None),
        ("OPENAI_COMPATIBLE", "ftp://albert.example/v1", None, None),
        ("ADVISOR", "10.1.2.3:50061", "10.1.2.3", 50061),
        ("ADVISOR", "[::1]:50061", "[::1]", 50061),
        ("ADVISOR", "grpcs://albert.example:443", "albert.example", 443),
        ("ADVISOR", "albert.example", None, None),
        ("ADVISOR", "albert.example:0", None, None),
    ],
)
def test_the_target_of_an_endpoint_is_what_the_client_would_connect_to(
    kind: str, endpoint: str, host: str | None, port: int | None
) -> None:
    if host is None:
        with pytest.raises(ValueError):
            target_of(kind, endpoint)
    else:
        target = target_of(kind, endpoint)
        assert (target.host, target.port) == (host, port)
