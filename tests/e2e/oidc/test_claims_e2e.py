"""Every check of a token's claims, with tokens signed by a key a real provider publishes (as
the provider would sign them): each failure has its own reason."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from aval.service.errors import Unauthenticated
from aval.service.oidc.keys import IssuerKeys
from aval.service.oidc.verify import verify

from .conftest import AUDIENCE
from .provider import Provider, rsa_jwk
from .test_keys_e2e import issuer_config


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Provider, Any]]:
    key = rsa_jwk("r1")
    provider = Provider(tmp_path_factory.mktemp("claims"), [key], AUDIENCE, {}, name="claims")
    yield provider.start(), jwt.PyJWK(key).key
    provider.stop()


def _claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found = {"iss": issuer, "aud": AUDIENCE, "sub": "u1", "iat": now, "exp": now + 60}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def _outcome(
    signer: tuple[Provider, Any], claims: dict[str, Any], typ: str = "at+jwt", **config: Any
) -> str:
    """ "ok", or the reason of the refusal."""
    provider, key = signer
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "r1", "typ": typ})
    issuer = dataclasses.replace(issuer_config(provider.issuer), **config)

    async def run() -> str:
        async with httpx.AsyncClient(trust_env=False) as client:
            try:
                await verify(token, issuer, IssuerKeys(issuer, lambda: client))
            except Unauthenticated as refused:
                return refused.reason
            return "ok"

    return asyncio.run(run())


def test_a_well_formed_token_passes(signer: tuple[Provider, Any]) -> None:
    issuer = signer[0].issuer
    assert _outcome(signer, _claims(issuer)) == "ok"
    assert _outcome(signer, _claims(issuer, aud=["urn:other", AUDIENCE])) == "ok"
    assert _outcome(signer, _claims(issuer), typ="application/at+jwt") == "ok"
    assert _outcome(signer, _claims(issuer), typ="JWT", token_types=("at+jwt", "JWT")) == "ok"


@pytest.mark.parametrize(
    ("changes", "typ", "reason"),
    [
        ({"exp": -10}, "at+jwt", "TOKEN_EXPIRED"),
        ({"iat": 30}, "at+jwt", "TOKEN_NOT_YET_VALID"),
        ({"nbf": 30}, "at+jwt", "TOKEN_NOT_YET_VALID"),
        ({"exp": None}, "at+jwt", "MISSING_CLAIM"),
        ({"aud": None}, "at+jwt", "MISSING_CLAIM"),
        ({"sub": None}, "at+jwt", "MISSING_CLAIM"),
        ({"aud": "urn:other"}, "at+jwt", "WRONG_AUDIENCE"),
        ({"aud": []}, "at+jwt", "MISSING_CLAIM"),  # an empty list names no audience
        ({"sub": "u1\u202e"}, "at+jwt", "BAD_SUBJECT"),
        ({"sub": "u" * 256}, "at+jwt", "BAD_SUBJECT"),
        ({}, "JWT", "WRONG_TOKEN_TYPE"),
        ({"iat": "yesterday"}, "at+jwt", "MALFORMED_TOKEN"),
    ],
)
def test_each_bad_claim_has_its_reason(
    signer: tuple[Provider, Any], changes: dict[str, Any], typ: str, reason: str
) -> None:
    now = int(time.time())
    timed = {
        k: now + v if k in ("exp", "iat", "nbf") and isinstance(v, int) else v
        for k, v in changes.items()
    }
    assert _outcome(signer, _claims(signer[0].issuer, **timed), typ=typ) == reason


def test_the_skew_forgives_a_little_drift_and_no_more(signer: tuple[Provider, Any]) -> None:
    now = int(time.time())
    issuer = signer[0].issuer
    drift = _claims(issuer, iat=now + 20, exp=now - 20)
    assert _outcome(signer, drift, clock_skew_seconds=30) == "ok"
    assert _outcome(signer, drift, clock_skew_seconds=10) == "TOKEN_EXPIRED"
