"""People signed in through OpenID Connect: the principal of a verified access token, and the
composite authenticator that sends JWT-shaped bearer tokens here and the rest to the file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx

from aval.service.errors import Unauthenticated
from aval.service.identity import Authenticator, Credentials, Principal, PrincipalKey
from aval.service.oidc.config import IssuerConfig, OidcConfig, TenantMapping
from aval.service.oidc.keys import IssuerKeys
from aval.service.oidc.verify import MAX_TOKEN_CHARS, unverified_parts, verify
from aval.service.people.names import safe_display_name

PREFIX = "oidc:"
# Claim values looked at in a roles claim: a token listing more groups is cut, not refused.
MAX_CLAIM_VALUES = 500


@dataclass(frozen=True)
class OidcPrincipal(Principal):
    """A person signed in through an identity provider: (oidc, issuer name, subject)."""

    issuer: str = ""
    subject: str = ""

    @cached_property
    def key(self) -> PrincipalKey:
        return PrincipalKey("oidc", self.issuer, self.subject)


def principal_id(issuer: str, subject: str) -> str:
    """The id the trail records for a person: stable as long as the provider keeps `sub`."""
    return f"{PREFIX}{issuer}:{subject}"


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [v for v in claim[:MAX_CLAIM_VALUES] if isinstance(v, str)]
    return []


def _applies(mapping: TenantMapping, claims: Mapping[str, Any]) -> bool:
    if mapping.when_claim is None:
        return True
    return mapping.when_equals in _values(claims.get(mapping.when_claim))


def _display_name(issuer: IssuerConfig, claims: Mapping[str, Any]) -> str:
    for name in (issuer.display_name_claim, "preferred_username"):
        # Personal data: never in the trail; kept in the people directory (service/people).
        value = safe_display_name(claims.get(name))
        if value:
            return value
    return ""


def _acr(claims: Mapping[str, Any]) -> str:
    """The token's authentication level (`acr`), when it is one printable word of 200
    characters at most; anything else counts as none."""
    value = claims.get("acr")
    if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
        return value if " " not in value else ""
    return ""


def principal_of(config: OidcConfig, issuer: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    """The person of verified claims, with the roles the tenant mappings give them."""
    roles: dict[str, frozenset[str]] = {}
    applicable = [m for m in config.tenants if m.issuer == issuer.name and _applies(m, claims)]
    for mapping in applicable:
        given: set[str] = set()
        for value in _values(claims.get(mapping.roles_claim)):
            given |= mapping.roles.get(value, frozenset())
        if given:
            roles[mapping.tenant] = frozenset(given)
    # The tenant a call without one means: the first that gives roles, else the first that
    # applies (where the call is then refused, naming the fix).
    fallback = next(m.tenant for m in config.tenants if m.issuer == issuer.name)
    home = next(iter(roles), applicable[0].tenant if applicable else fallback)
    sub = str(claims["sub"])
    return OidcPrincipal(
        id=principal_id(issuer.name, sub),
        tenant=home,
        roles=roles,
        display_name=_display_name(issuer, claims),
        acr=_acr(claims),
        issuer=issuer.name,
        subject=sub,
    )


class OidcAuthenticator:
    """Bearer access tokens of the configured identity providers."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._http: httpx.AsyncClient | None = None
        self._by_iss = {i.issuer: i for i in config.issuers}
        self.keys = {i.name: IssuerKeys(i, self._client) for i in config.issuers}
        # Told of every person whose token verified (the people directory); never of a refusal.
        self.on_person: Callable[[Principal], None] | None = None

    def _client(self) -> httpx.AsyncClient:
        # Made on first use, inside the server's event loop. No redirects: the keys come from
        # where the provider's discovery document says, not from where a redirect would lead.
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=False, timeout=httpx.Timeout(2.0), trust_env=False
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def authenticate_token(self, token: str) -> Principal:
        _, payload = unverified_parts(token)
        iss = payload.get("iss")
        issuer = self._by_iss.get(iss) if isinstance(iss, str) else None
        if issuer is None:  # decided without any network call
            raise Unauthenticated("UNKNOWN_ISSUER")
        claims = await verify(token, issuer, self.keys[issuer.name])
        principal = principal_of(self.config, issuer, claims)
        if self.on_person is not None:
            self.on_person(principal)
        return principal

    async def authenticate(self, credentials: Credentials) -> Principal:
        token = bearer_of(credentials)
        return await self.authenticate_token(token)


def bearer_of(credentials: Credentials) -> str:
    text = credentials.header("authorization")
    if text is None:
        raise Unauthenticated("NO_CREDENTIALS")
    scheme, _, token = text.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("MALFORMED_CREDENTIALS")
    return token.strip()


def jwt_shaped(token: str) -> bool:
    """Whether a bearer token is meant as a JWT: three dot-separated parts (or an oversized
    token with a dot, refused as too large). Static tokens of the principals file are made
    without dots (`aval` makes them URL-safe base64)."""
    return token.count(".") == 2 or (len(token) > MAX_TOKEN_CHARS and "." in token)


class CompositeAuthenticator:
    """JWT-shaped bearer tokens to OpenID Connect, anything else to the next authenticator
    (the principals file: static tokens, client certificates)."""

    def __init__(self, oidc: OidcAuthenticator, other: Authenticator) -> None:
        self.oidc, self.other = oidc, other

    @property
    def principals(self) -> list[Principal]:
        """The principals the next authenticator lists (people signed in are never listed)."""
        return list(getattr(self.other, "principals", []))

    def may_be_person(self, principal_id: str, tenant: str) -> bool:
        """Whether `principal_id` has the form of a person of a provider mapped to `tenant`
        (whether such a person exists only their provider knows)."""
        return any(
            principal_id.startswith(f"{PREFIX}{mapping.issuer}:")
            and len(principal_id) > len(f"{PREFIX}{mapping.issuer}:")
            for mapping in self.oidc.config.tenants
            if mapping.tenant == tenant
        )

    async def authenticate(self, credentials: Credentials) -> Principal:
        text = credentials.header("authorization")
        if text is not None:
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and jwt_shaped(token.strip()):
                return await self.oidc.authenticate_token(token.strip())
        return await self.other.authenticate(credentials)
