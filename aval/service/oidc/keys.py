"""An identity provider's signing keys: discovery and JWKS fetched asynchronously, kept for a
bounded time, one fetch at a time however many calls wait for it.

A key id the cache does not know makes at most one fetch per `refetch_interval_seconds`, so a
flood of tokens with made-up key ids costs the provider nothing more. A provider that cannot be
reached is asked again no sooner either: its tokens are refused at once meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from aval.contract.addresses import is_loopback_host
from aval.service.errors import Unauthenticated
from aval.service.oidc.config import IssuerConfig
from aval.verifier.chain import parse_json

log = logging.getLogger("aval.oidc")

# Seconds one fetch (discovery and keys together) may take before the provider counts as down.
FETCH_BUDGET_SECONDS = 2.0
# Bytes a discovery document or a key set may have: more is not a provider's answer.
MAX_DOCUMENT_BYTES = 256 * 1024
# Keys kept from one key set: more is not a provider's answer either.
MAX_KEYS = 50
MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class FetchError(Exception):
    """The provider's keys could not be had; the message says what to check."""


@dataclass(frozen=True)
class SigningKey:
    """One published key: the key, and the algorithm and type its JWK declares."""

    key: jwt.PyJWK
    alg: str | None
    kty: str


@dataclass
class _State:
    keys: dict[str, SigningKey] = field(default_factory=dict)
    fresh_until: float = 0.0
    last_attempt: float = float("-inf")
    error: str | None = None  # the last fetch's failure, while no fetch succeeded since
    jwks_uri: str | None = None


class IssuerKeys:
    """The signing keys of one issuer, by key id."""

    def __init__(
        self,
        config: IssuerConfig,
        client: Callable[[], httpx.AsyncClient],
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client = client
        self._now = now
        self._state = _State(jwks_uri=config.jwks_uri)
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0

    async def key(self, kid: str) -> SigningKey:
        """The key `kid` of the issuer's current key set.

        Raises:
            Unauthenticated: ISSUER_UNREACHABLE (no key set could be had) or UNKNOWN_SIGNING_KEY.
        """
        state, now = self._state, self._now()
        stale = now >= state.fresh_until
        unknown = kid not in state.keys
        may_fetch = now - state.last_attempt >= self._config.refetch_interval_seconds
        if (stale or unknown) and (may_fetch or self._inflight is not None):
            await self._refresh()
        if kid in state.keys:
            return state.keys[kid]
        if not state.keys and state.error is not None:
            raise Unauthenticated(
                "ISSUER_UNREACHABLE", issuer=self._config.name, detail=state.error
            )
        raise Unauthenticated("UNKNOWN_SIGNING_KEY", issuer=self._config.name, kid=kid)

    async def _refresh(self) -> None:
        # One fetch at a time: every caller waits for the same one (shielded: a caller that
        # gives up does not cancel the others' fetch).
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._done)
        await asyncio.shield(self._inflight)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight = None

    async def _fetch(self) -> None:
        state = self._state
        state.last_attempt = self._now()
        self.fetches += 1
        try:
            async with asyncio.timeout(FETCH_BUDGET_SECONDS):
                keys, max_age = await self._fetch_keys()
        except Exception as exc:  # whatever went wrong, the callers get a refusal, not a 500
            detail = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {FETCH_BUDGET_SECONDS:.0f} s"
            elif isinstance(exc, httpx.ConnectError):
                detail = f"cannot connect to {self._config.issuer}"
            elif not isinstance(exc, FetchError | httpx.HTTPError):
                log.exception("OIDC issuer %s: unexpected failure", self._config.name)
            state.error = detail
            log.warning("OIDC issuer %s: cannot fetch its keys: %s", self._config.name, detail)
            # The keys held stay usable: a provider briefly down does not sign everyone out.
            return
        state.keys = keys
        state.error = None
        # The provider's max-age, within [refetch interval, jwks_max_age_seconds].
        longest = self._config.jwks_max_age_seconds
        ttl = longest if max_age is None else max(max_age, self._config.refetch_interval_seconds)
        state.fresh_until = self._now() + min(ttl, longest)

    async def _fetch_keys(self) -> tuple[dict[str, SigningKey], int | None]:
        if self._state.jwks_uri is None:
            discovery, _ = await self._get(
                self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            if not isinstance(discovery, dict) or discovery.get("issuer") != self._config.issuer:
                raise FetchError(
                    "its discovery document names another issuer: check `issuer` in "
                    "AVAL_OIDC_FILE against the provider's"
                )
            uri = discovery.get("jwks_uri")
            if not isinstance(uri, str) or not _secure(uri):
                raise FetchError("its discovery document has no usable https jwks_uri")
            self._state.jwks_uri = uri
        document, max_age = await self._get(self._state.jwks_uri)
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise FetchError("its jwks_uri does not answer a JSON key set")
        keys: dict[str, SigningKey] = {}
        for entry in entries[:MAX_KEYS]:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig" or "d" in entry:
                continue  # an encryption key, or a private key a provider should never publish
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type or algorithm Aval does not use
            alg = entry.get("alg")
            named = alg if isinstance(alg, str) else None
            keys[entry["kid"]] = SigningKey(key, named, str(entry.get("kty")))
        return keys, max_age

    async def _get(self, url: str) -> tuple[Any, int | None]:
        client = self._client()
        async with client.stream("GET", url, headers={"accept": "application/json"}) as answer:
            if answer.status_code != 200:
                raise FetchError(f"{url} answered HTTP {answer.status_code}")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
            match = MAX_AGE.search(answer.headers.get("cache-control", ""))
        try:
            return parse_json(bytes(body)), int(match[1]) if match else None
        except ValueError as exc:
            raise FetchError(f"{url} did not answer JSON") from exc


def _secure(uri: str) -> bool:
    """https, or plain http on loopback only (tests)."""
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and is_loopback_host(str(parts.hostname))
