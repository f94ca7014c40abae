"""Who is calling: bearer tokens mapped to principals by a file that stores only token hashes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Unauthenticated

ROLES = ("application", "supervisor", "inspector", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its home tenant and its roles per tenant."""

    id: str
    tenant: str
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    display_name: str = ""

    def roles_in(self, tenant: str) -> frozenset[str]:
        return self.roles.get(tenant, frozenset())

    @property
    def is_application(self) -> bool:
        return "application" in self.roles_in(self.tenant)


class Authenticator(Protocol):
    """Turns call metadata into a principal; the first identity provider of a pluggable set."""

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal: ...


class _GrantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str
    roles: list[str] = Field(min_length=1)


class _PrincipalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    tenant: str
    roles: list[str] = Field(min_length=1)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    display_name: str = ""
    # Roles in other tenants, granted explicitly (a pooled inspector, I5).
    grants: list[_GrantSpec] = []


class _PrincipalsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principals: list[_PrincipalSpec]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PrincipalsFileError(ValueError):
    """A principals file that cannot be used."""


def load_principals(path: Path) -> list[tuple[Principal, str]]:
    """Reads (principal, token hash) pairs from a YAML principals file."""
    try:
        spec = _PrincipalsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise PrincipalsFileError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PrincipalsFileError(f"{path}: {where}: {first['msg']}") from exc
    loaded = []
    for p in spec.principals:
        unknown = {r for r in p.roles + [r for g in p.grants for r in g.roles] if r not in ROLES}
        if unknown:
            raise PrincipalsFileError(
                f"{path}: principal {p.id}: unknown roles {sorted(unknown)}; known: {ROLES}"
            )
        roles = {p.tenant: frozenset(p.roles)}
        for grant in p.grants:
            roles[grant.tenant] = roles.get(grant.tenant, frozenset()) | frozenset(grant.roles)
        loaded.append((Principal(p.id, p.tenant, roles, p.display_name), p.token_sha256))
    return loaded


class TokenAuthenticator:
    """Bearer tokens in the `authorization` metadata; only their SHA-256 is ever stored."""

    def __init__(self, principals: Sequence[tuple[Principal, str]]) -> None:
        self._by_hash = {h: p for p, h in principals}
        self.principals = [p for p, _ in principals]

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
        header = next((v for k, v in metadata if k == "authorization"), None)
        if header is None:
            raise Unauthenticated("NO_CREDENTIALS")
        text = header.decode() if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("MALFORMED_CREDENTIALS")
        digest = token_hash(token.strip())
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthenticated("UNKNOWN_TOKEN")
