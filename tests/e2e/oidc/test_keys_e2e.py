"""The provider's keys, fetched from a real provider: one fetch however many calls wait for it,
and a flood of made-up key ids costs the provider at most one fetch per interval."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from aval.service.errors import Unauthenticated
from aval.service.oidc.config import IssuerConfig
from aval.service.oidc.keys import IssuerKeys

from .conftest import AUDIENCE
from .provider import Provider


def issuer_config(issuer: str, refetch: int = 30) -> IssuerConfig:
    return IssuerConfig(
        name="test-idp",
        issuer=issuer,
        audience=AUDIENCE,
        algorithms=("RS256",),
        token_types=("at+jwt",),
        display_name_claim="name",
        clock_skew_seconds=0,
        jwks_uri=None,
        jwks_max_age_seconds=300,
        refetch_interval_seconds=refetch,
    )


async def _with_keys(issuer: str, refetch: int = 30) -> tuple[IssuerKeys, object]:
    import httpx

    client = httpx.AsyncClient(follow_redirects=False, timeout=2, trust_env=False)
    return IssuerKeys(issuer_config(issuer, refetch), lambda: client), client


def test_concurrent_calls_share_one_fetch(idp: Provider) -> None:
    kid = str(idp.keys[0]["kid"])

    async def run() -> int:
        keys, client = await _with_keys(idp.issuer)
        try:
            found = await asyncio.gather(*(keys.key(kid) for _ in range(50)))
            assert all(k.kty == "RSA" for k in found)
            return keys.fetches
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    assert asyncio.run(run()) == 1


def test_a_flood_of_unknown_key_ids_makes_at_most_one_fetch_per_interval(idp: Provider) -> None:
    async def run() -> tuple[int, float]:
        keys, client = await _with_keys(idp.issuer, refetch=30)
        try:
            started = time.monotonic()
            for _ in range(200):
                with pytest.raises(Unauthenticated) as refused:
                    await keys.key(uuid.uuid4().hex)
                assert refused.value.reason == "UNKNOWN_SIGNING_KEY"
            return keys.fetches, time.monotonic() - started
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    fetches, elapsed = asyncio.run(run())
    assert fetches == 1
    assert elapsed < 5
