"""Signing a person in through an OpenID provider: authorization code with PKCE (RFC 7636),
the console being a confidential client; the access token it receives is what the gateway
verifies on every call made for that person.

Only what the sign-in needs is kept between the redirect and the return, on the server, under a
random key; the browser carries that key in a short-lived cookie, and `state` ties the return
to it. The provider's discovery document is read once per issuer and kept.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from aval.console.config import SignInOption

# A sign-in not completed within this many seconds must start again.
PENDING_SECONDS = 600
MAX_PENDING = 2_000


class SignInFailed(Exception):
    """The provider refused, or answered something unusable; the message is for the log."""


@dataclass(frozen=True)
class Pending:
    option: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    started: float


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: float | None


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=10, follow_redirects=False, trust_env=False)
        self._discovered: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, Pending] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _metadata(self, option: SignInOption) -> dict[str, Any]:
        issuer = option.issuer.issuer
        if issuer not in self._discovered:
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self._http.get(url)
                response.raise_for_status()
                found = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SignInFailed(f"discovery at {url} failed: {exc}") from exc
            for key in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(found.get(key), str):
                    raise SignInFailed(f"discovery at {url} gives no {key}")
            self._discovered[issuer] = found
        return self._discovered[issuer]

    async def start(self, option: SignInOption, redirect_uri: str) -> tuple[str, str]:
        """(the key the browser keeps, the provider URL to send the browser to)."""
        now = time.monotonic()
        self._forget_stale(now)
        metadata = await self._metadata(option)
        pending = Pending(
            option=option.key,
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            started=now,
        )
        key = secrets.token_urlsafe(24)
        self._pending[key] = pending
        query = {
            "client_id": option.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": option.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
            # The gateway's audience: the access token must be meant for it (RFC 8707).
            "resource": option.issuer.audience,
        }
        return key, f"{metadata['authorization_endpoint']}?{urlencode(query)}"

    def take(self, key: str | None, state: str | None) -> Pending | None:
        """The pending sign-in of this browser, once, if `state` is the one it was sent with."""
        if not key or not state:
            return None
        pending = self._pending.pop(key, None)
        if pending is None or not secrets.compare_digest(pending.state, state):
            return None
        if time.monotonic() - pending.started > PENDING_SECONDS:
            return None
        return pending

    async def exchange(self, option: SignInOption, pending: Pending, code: str) -> Tokens:
        metadata = await self._metadata(option)
        return await self._token(
            option,
            metadata,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.verifier,
                "resource": option.issuer.audience,
            },
        )

    async def refresh(self, option: SignInOption, refresh_token: str) -> Tokens:
        metadata = await self._metadata(option)
        return await self._token(
            option,
            metadata,
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "resource": option.issuer.audience,
            },
        )

    async def _token(
        self, option: SignInOption, metadata: dict[str, Any], form: dict[str, str]
    ) -> Tokens:
        try:
            response = await self._http.post(
                metadata["token_endpoint"],
                data=form,
                auth=(option.client_id, option.client_secret),
            )
        except httpx.HTTPError as exc:
            raise SignInFailed(f"token endpoint unreachable: {exc}") from exc
        if response.status_code != 200:
            # The provider's error code only: its description may echo what was sent.
            try:
                error = str(response.json().get("error", ""))[:60]
            except ValueError:
                error = ""
            raise SignInFailed(f"token endpoint answered {response.status_code} {error}")
        try:
            body = response.json()
            access = body["access_token"]
        except (ValueError, KeyError) as exc:
            raise SignInFailed("token endpoint gave no access_token") from exc
        if not isinstance(access, str) or not access:
            raise SignInFailed("token endpoint gave no access_token")
        expires = body.get("expires_in")
        refresh = body.get("refresh_token")
        return Tokens(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_in=float(expires) if isinstance(expires, int | float) else None,
        )

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, p in self._pending.items() if now - p.started > PENDING_SECONDS]:
            del self._pending[key]
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]
