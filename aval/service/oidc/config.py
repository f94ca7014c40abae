"""The OpenID Connect file (AVAL_OIDC_FILE): which identity providers people sign in with, and
what their tokens' claims give them in which tenant. Checked at start-up with file, line, field
and fix, like the principals and egress files."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from aval.contract.addresses import is_loopback_host
from aval.policies.config_file import read_config_file
from aval.policies.yaml_lines import (
    common_fix,
)
from aval.service.identity import ROLES

SETTING = "AVAL_OIDC_FILE"
# Never accepted, whatever the file says: `none` is no signature, HS* would take a public key
# (known to all) for a shared secret (RFC 8725, 2.1 and 3.1).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
DEFAULT_ALGORITHMS = ("RS256", "ES256")
# `typ` values an access token may carry: RFC 9068's `at+jwt`, and `JWT` for the providers that
# put it on their access tokens (Keycloak, AD FS) when an issuer's file entry allows it.
TOKEN_TYPES = ("at+jwt", "JWT")
# Roles a person may get from a provider: an application signs in with a principals-file token.
PERSON_ROLES = tuple(r for r in ROLES if r != "application")
NAME = r"^[a-z0-9][a-z0-9-]{0,39}$"


class _Mistake(ValueError):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


def _issuer_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _Mistake(f"{value!r} is not an http(s) URL", "write the issuer's https:// URL")
    if parts.query or parts.fragment or parts.username:
        raise _Mistake(
            f"{value!r} has a query, a fragment or a user name",
            "write the issuer exactly as its tokens' `iss` claim says",
        )
    return value


def _url(value: str) -> str:
    parts = urlsplit(_issuer_url(value))
    if parts.scheme == "http" and not is_loopback_host(str(parts.hostname)):
        raise _Mistake(
            f"{value!r} is plain http on a host that is not loopback: keys fetched from it "
            "could be replaced on the way",
            "use the issuer's https:// URL (plain http is for tests on 127.0.0.1 only)",
        )
    return value


Url = Annotated[str, AfterValidator(_url)]
IssuerUrl = Annotated[str, AfterValidator(_issuer_url)]


class _Issuer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME)
    # Exactly the tokens' `iss`. Plain http only on loopback, unless the keys come from an
    # https `jwks_uri` given here: AD FS names its access tokens' issuer with http://.
    issuer: IssuerUrl
    audience: str = Field(min_length=1, max_length=500)
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS), min_length=1)
    token_types: list[str] = Field(default_factory=lambda: ["at+jwt"], min_length=1)
    display_name_claim: str = Field(default="name", min_length=1, max_length=100)
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    # Where the keys are, when the provider has no discovery document (otherwise read there).
    jwks_uri: Url | None = None
    # The longest the provider's keys are kept before they are fetched again (its
    # Cache-Control max-age when shorter), and the least time between two fetches that an
    # unknown key id (or an unreachable provider) may cause.
    jwks_max_age_seconds: int = Field(default=300, ge=1, le=86400)
    refetch_interval_seconds: int = Field(default=30, ge=1, le=3600)


class _When(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    claim: str = Field(min_length=1, max_length=100)
    equals: str = Field(min_length=1, max_length=500)


class _Tenant(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    issuer: str = Field(min_length=1)
    when: _When | None = None
    roles_claim: str = Field(default="groups", min_length=1, max_length=100)
    roles: dict[str, list[str]] = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    issuers: list[_Issuer] = Field(min_length=1)
    tenants: dict[str, _Tenant] = Field(min_length=1)


@dataclass(frozen=True)
class IssuerConfig:
    name: str
    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    token_types: tuple[str, ...]
    display_name_claim: str
    clock_skew_seconds: int
    jwks_uri: str | None
    jwks_max_age_seconds: int
    refetch_interval_seconds: int


@dataclass(frozen=True)
class TenantMapping:
    tenant: str
    issuer: str  # the issuer's name
    when_claim: str | None
    when_equals: str | None
    roles_claim: str
    roles: dict[str, frozenset[str]]


@dataclass(frozen=True)
class OidcConfig:
    issuers: tuple[IssuerConfig, ...]
    tenants: tuple[TenantMapping, ...]
    source: str

    def issuer_named(self, name: str) -> IssuerConfig:
        return next(i for i in self.issuers if i.name == name)


def _fix_for(error: Any) -> tuple[str, str]:
    mistake = (error.get("ctx") or {}).get("error")
    if isinstance(mistake, _Mistake):
        return mistake.message, mistake.fix
    loc = tuple(error["loc"])
    name = str(loc[-1]) if loc else ""
    if (common := common_fix(str(error["type"]), loc)) is not None:
        return str(error["msg"]), common
    if name == "name" and error["type"] == "string_pattern_mismatch":
        return str(error["msg"]), "a name has lowercase letters, digits and '-' (40 at most)"
    if name in ("clock_skew_seconds", "jwks_max_age_seconds", "refetch_interval_seconds"):
        return str(error["msg"]), f"give {name} a whole number of seconds within the bounds"
    return str(error["msg"]), str(error["msg"])


def load_oidc_file(path: Path, tenants: Collection[str]) -> OidcConfig:
    """Reads and checks an OpenID Connect file against the deployment's tenants.

    Raises:
        PolicyError: naming the file, line, field and fix of the first problem.
    """
    read = read_config_file(path, SETTING)
    shown, data, mistake = read.shown, read.data, read.mistake

    try:
        spec = _File.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise mistake(tuple(p for p in first["loc"] if p != "[key]"), *_fix_for(first)) from exc
    names: dict[str, int] = {}
    by_iss: dict[str, int] = {}
    for i, entry in enumerate(spec.issuers):
        if names.setdefault(entry.name, i) != i:
            raise mistake(
                ("issuers", i, "name"),
                f"the issuer name {entry.name!r} is already used",
                "give each issuer its own name",
            )
        if by_iss.setdefault(entry.issuer, i) != i:
            raise mistake(
                ("issuers", i, "issuer"),
                f"{entry.issuer!r} is already declared, as "
                f"{spec.issuers[by_iss[entry.issuer]].name!r}",
                "declare each issuer once; map it to several tenants under `tenants:`",
            )
        if entry.jwks_uri is None:
            try:
                _url(entry.issuer)
            except _Mistake as exc:
                raise mistake(
                    ("issuers", i, "issuer"),
                    exc.message,
                    exc.fix + "; or give the provider's https `jwks_uri` (AD FS)",
                ) from exc
        for j, alg in enumerate(entry.algorithms):
            if alg not in ALGORITHMS:
                raise mistake(
                    ("issuers", i, "algorithms", j),
                    f"{alg!r} is not an accepted signature algorithm",
                    f"use some of {', '.join(ALGORITHMS)} (never none nor HS*)",
                )
        for j, kind in enumerate(entry.token_types):
            if kind not in TOKEN_TYPES:
                raise mistake(
                    ("issuers", i, "token_types", j),
                    f"{kind!r} is not a token type Aval accepts",
                    "use at+jwt (RFC 9068), and JWT for providers that type access tokens so",
                )
    mapped: set[str] = set()
    for tenant, mapping in spec.tenants.items():
        if tenant not in tenants:
            raise mistake(
                ("tenants", tenant),
                f"unknown tenant {tenant!r}; known: {', '.join(sorted(tenants)) or 'none'}",
                "name a tenant of the review policies (AVAL_POLICY_DIR)",
            )
        if mapping.issuer not in names:
            raise mistake(
                ("tenants", tenant, "issuer"),
                f"no issuer is named {mapping.issuer!r}",
                f"name one of the issuers: {', '.join(names)}",
            )
        mapped.add(mapping.issuer)
        for value, roles in mapping.roles.items():
            wrong = sorted(set(roles) - set(PERSON_ROLES))
            if wrong or not roles:
                raise mistake(
                    ("tenants", tenant, "roles", value),
                    f"claim value {value!r} gives {wrong or 'no'} roles",
                    f"give roles among {', '.join(PERSON_ROLES)} (applications sign in with a "
                    "token of the principals file, not as a person)",
                )
    for i, entry in enumerate(spec.issuers):
        if entry.name not in mapped:
            raise mistake(
                ("issuers", i, "name"),
                f"issuer {entry.name!r} gives no role in any tenant",
                "map it to a tenant under `tenants:`, or remove it",
            )
    return OidcConfig(
        issuers=tuple(
            IssuerConfig(
                name=e.name,
                issuer=e.issuer,
                audience=e.audience,
                algorithms=tuple(dict.fromkeys(e.algorithms)),
                token_types=tuple(dict.fromkeys(e.token_types)),
                display_name_claim=e.display_name_claim,
                clock_skew_seconds=e.clock_skew_seconds,
                jwks_uri=e.jwks_uri,
                jwks_max_age_seconds=e.jwks_max_age_seconds,
                refetch_interval_seconds=e.refetch_interval_seconds,
            )
            for e in spec.issuers
        ),
        tenants=tuple(
            TenantMapping(
                tenant=tenant,
                issuer=e.issuer,
                when_claim=e.when.claim if e.when else None,
                when_equals=e.when.equals if e.when else None,
                roles_claim=e.roles_claim,
                roles={value: frozenset(roles) for value, roles in e.roles.items()},
            )
            for tenant, e in spec.tenants.items()
        ),
        source=shown,
    )


def load_oidc(path: Path | None, tenants: Collection[str]) -> OidcConfig | None:
    """The deployment's OpenID Connect configuration, or None without AVAL_OIDC_FILE."""
    return None if path is None else load_oidc_file(path, tenants)
