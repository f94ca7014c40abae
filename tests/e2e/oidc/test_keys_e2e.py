"""The provider's keys, fetched from a real provider: one fetch however many calls wait for it,
and a flood of made-up key ids costs the provider at most one fetch per interval."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import jwt
import pytest

from aval.service.errors import Unauthenticated
from aval.service.oidc.config import IssuerConfig
from aval.service.oidc.keys import IssuerKeys
from aval.service.oidc.verify import verify

from .conftest import AUDIENCE
from .provider import Provider, ec_jwk, rsa_jwk


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


def test_es256_tokens_verify_and_a_key_of_another_type_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A provider publishing an RSA and an EC key: an ES256 token signed with the EC key
    passes; the same token naming the RSA key's id is refused, whatever its signature."""
    ec = ec_jwk("e1")
    rsa_key = rsa_jwk("r1")
    provider = Provider(
        tmp_path_factory.mktemp("es256"), [rsa_key, ec], AUDIENCE, {}, name="es256"
    ).start()
    try:
        now = int(time.time())
        claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "u1", "iat": now, "exp": now + 60}
        private = jwt.PyJWK(ec).key

        async def run() -> None:
            keys, client = await _with_keys(provider.issuer)
            config = dataclasses.replace(
                issuer_config(provider.issuer), algorithms=("RS256", "ES256")
            )
            try:
                good = jwt.encode(claims, private, "ES256", headers={"kid": "e1", "typ": "at+jwt"})
                assert (await verify(good, config, keys))["sub"] == "u1"
                wrong = jwt.encode(claims, private, "ES256", headers={"kid": "r1", "typ": "at+jwt"})
                with pytest.raises(Unauthenticated) as refused:
                    await verify(wrong, config, keys)
                assert refused.value.reason == "BAD_SIGNATURE"
            finally:
                await client.aclose()  # type: ignore[attr-defined]

        asyncio.run(run())
    finally:
        provider.stop()
