"""Who is calling: bearer tokens mapped to principals by a file that stores only token hashes."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aval.audit_store.records import SYSTEM_ACTOR, Actor, ActorType
from aval.policies.yaml_lines import (
    SYNTAX_FIX,
    Loc,
    RepeatedKey,
    YamlSyntaxError,
    common_fix,
    line_of,
    parse,
    refuse_repeated_keys,
)
from aval.service.client_certificates import CertificateSpec

ROLES = ("application", "supervisor", "inspector", "admin", "privacy_officer")


@dataclass(frozen=True, order=True)
class PrincipalKey:
    """Who a principal is, unambiguously across the deployment (I5).

    A principal of the principals file is (``file``, its tenant, its id); a person signed in
    through OpenID Connect is to be (``oidc``, issuer, subject). Grants, and anything else that
    must tell principals apart, are keyed by this, never by a bare id.
    """

    kind: str
    namespace: str
    subject: str

    def __str__(self) -> str:
        # Casbin compares subjects as strings. JSON keeps the parts apart whatever they hold, and
        # never equals a role name: a subject named like a role would hold that role everywhere.
        parts = [self.kind, self.namespace, self.subject]
        return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its home tenant and its roles per tenant.

    `id` is what the trail, decisions, reviews, claims and pin requests record, and what
    separation of duties compares. It names one principal only because ids are unique across
    the deployment, whatever their tenant: `load_principals` and `FileAuthenticator` refuse
    anything else.
    """

    id: str
    tenant: str
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    display_name: str = ""
    # The authentication level a person signed in with (their token's `acr` claim), which a
    # policy may require of approvers; empty for static tokens and certificates, which have none.
    acr: str = ""

    @cached_property
    def key(self) -> PrincipalKey:
        return PrincipalKey("file", self.tenant, self.id)

    def roles_in(self, tenant: str) -> frozenset[str]:
        return self.roles.get(tenant, frozenset())

    @property
    def is_application(self) -> bool:
        return "application" in self.roles_in(self.tenant)


def actor_of(principal: Principal) -> Actor:
    """How the trail names a principal acting: an application, or a person."""
    kind = ActorType.APPLICATION if principal.is_application else ActorType.HUMAN
    return Actor(id=principal.id, type=kind)


@dataclass(frozen=True)
class Credentials:
    """What a call presents to be let in: its metadata, and the certificate its TLS peer proved
    it holds (PEM; None over plaintext or without a client certificate)."""

    metadata: Sequence[tuple[str, str | bytes]]
    peer_certificate: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of metadata `name` as text, or None when absent."""
        value = next((v for k, v in self.metadata if k == name), None)
        if value is None:
            return None
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class Authenticator(Protocol):
    """Turns what a call presents into a principal, or refuses it (Unauthenticated)."""

    async def authenticate(self, credentials: Credentials) -> Principal: ...


class _GrantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)


class _PrincipalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    tenant: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    certificate: CertificateSpec | None = None
    # The principal's credentials (token and certificate) are refused from then on.
    expires_at: AwareDatetime | None = None
    # Refused at once (from the next reload of the file).
    revoked: bool = False
    display_name: str = ""
    # Roles in other tenants, granted explicitly (a pooled inspector, I5).
    grants: list[_GrantSpec] = []

    @field_validator("id")
    @classmethod
    def _readable(cls, value: str) -> str:
        # The id is what the trail shows: nothing invisible, nothing a terminal would act on.
        if not value.isprintable() or value != value.strip():
            raise ValueError("a principal id must be printable text without spaces around it")
        return value

    @model_validator(mode="after")
    def _credential(self) -> _PrincipalSpec:
        if self.token_sha256 is None and self.certificate is None:
            raise ValueError("a principal needs a credential: token_sha256, certificate, or both")
        return self


class _PrincipalsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principals: list[_PrincipalSpec]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PrincipalsFileError(ValueError):
    """A principals file that cannot be used: where, what, and how to mend it."""

    def __init__(self, path: Path, line: int | None, field: str, message: str, fix: str) -> None:
        self.path, self.line, self.field, self.message, self.fix = path, line, field, message, fix
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field}: {message} — fix: {fix}")


@dataclass(frozen=True)
class _Document:
    """A YAML file's data with its node tree, whose marks give the line of every value."""

    path: Path
    data: Any
    root: yaml.Node | None

    def line(self, loc: Loc) -> int | None:
        return line_of(self.root, loc)

    def error(self, loc: Loc, message: str, fix: str) -> PrincipalsFileError:
        where = ".".join(str(p) for p in loc) or "(document)"
        return PrincipalsFileError(self.path, self.line(loc), where, message, fix)


def _read(path: Path) -> _Document:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PrincipalsFileError(
            path, None, "(file)", str(exc), "check AVAL_PRINCIPALS_FILE"
        ) from exc
    try:
        data, root = parse(text)
    except YamlSyntaxError as exc:
        raise PrincipalsFileError(path, exc.line, "(syntax)", exc.message, SYNTAX_FIX) from exc
    document = _Document(path, data, root)
    try:
        refuse_repeated_keys(root)
    except RepeatedKey as exc:
        raise PrincipalsFileError(path, exc.line, exc.where, str(exc), exc.fix) from exc
    return document


def _fix_for(error_type: str, loc: Loc, message: str) -> str:
    if (common := common_fix(error_type, loc)) is not None:
        return common
    fixes = {
        "token_sha256": "write the SHA-256 of the token, 64 lowercase hexadecimal digits",
        "expires_at": "write an RFC 3339 time with its offset, e.g. 2027-01-31T23:00:00Z",
        "subject": "write the subject as `openssl x509 -noout -subject -nameopt RFC2253` "
        "prints it, e.g. CN=app-urbanisme,O=Ville-A",
        "sha256": "write the fingerprint `openssl x509 -noout -fingerprint -sha256` prints",
    }
    if loc and str(loc[-1]) in fixes:
        return fixes[str(loc[-1])]
    if "needs a credential" in message:
        return "add token_sha256 (the SHA-256 of its token) or certificate: {subject: …}"
    return message


def _validate(document: _Document) -> _PrincipalsFile:
    try:
        return _PrincipalsFile.model_validate(document.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise document.error(loc, message, _fix_for(first["type"], loc, message)) from exc


def _folded(principal_id: str) -> str:
    """What a reader of the trail cannot tell apart: case and Unicode compatibility forms."""
    return unicodedata.normalize("NFKC", principal_id).casefold()


def _refuse_ambiguity(document: _Document, spec: _PrincipalsFile) -> None:
    """One id, one token: each names one principal of the whole deployment (I5)."""
    by_id: dict[str, int] = {}
    by_token: dict[str, int] = {}
    for i, p in enumerate(spec.principals):
        if _folded(p.id) == _folded(SYSTEM_ACTOR.id):
            raise document.error(
                ("principals", i, "id"),
                f"the id {p.id!r} is reserved for the server's own events in the trail",
                "choose another id",
            )
        if _folded(p.id).startswith("oidc:"):
            raise document.error(
                ("principals", i, "id"),
                f"the id {p.id!r} starts with 'oidc:', kept for people signed in through "
                "OpenID Connect (oidc:<issuer name>:<subject>)",
                "choose an id that does not start with 'oidc:'",
            )
        earlier = by_id.setdefault(_folded(p.id), i)
        if earlier != i:
            other = spec.principals[earlier]
            same = (
                "is already declared"
                if other.id == p.id
                else f"reads the same as {other.id!r} (case and Unicode forms aside), declared"
            )
            raise document.error(
                ("principals", i, "id"),
                f"principal id {p.id!r} (tenant {p.tenant}) {same} at line "
                f"{document.line(('principals', earlier, 'id'))} (tenant {other.tenant}); a "
                "principal's id must be unique across the deployment, whatever its tenant",
                f"give one of them another id (for example '{p.tenant}-{p.id}'); if both are one "
                "caller, keep one entry and list its roles in the other tenant under `grants:`",
            )
        if p.token_sha256 is None:
            continue
        earlier = by_token.setdefault(p.token_sha256, i)
        if earlier != i:
            other = spec.principals[earlier]
            raise document.error(
                ("principals", i, "token_sha256"),
                f"principal {p.id!r} has the token of {other.id!r} (line "
                f"{document.line(('principals', earlier, 'token_sha256'))}); a token must name "
                "one principal",
                "give each principal its own token, and write its SHA-256 here",
            )


def _refuse_shared_certificates(document: _Document, spec: _PrincipalsFile) -> None:
    """One certificate subject, one fingerprint: each names one principal."""
    seen: dict[tuple[str, str], int] = {}
    for i, p in enumerate(spec.principals):
        if p.certificate is None:
            continue
        for part in ("subject", "sha256"):
            value = getattr(p.certificate, part)
            if value is None:
                continue
            earlier = seen.setdefault((part, value), i)
            if earlier != i:
                other = spec.principals[earlier]
                line = document.line(("principals", earlier, "certificate", part))
                raise document.error(
                    ("principals", i, "certificate", part),
                    f"principal {p.id!r} has the certificate {part} of {other.id!r} (line "
                    f"{line}); a certificate must name one principal",
                    "give each principal its own certificate, or keep one entry",
                )


@dataclass(frozen=True)
class PrincipalEntry:
    """A principal of the principals file with the credentials that prove it."""

    principal: Principal
    token_sha256: str | None = None
    certificate_subject: str | None = None
    certificate_sha256: str | None = None
    # UTC; the credentials are refused from then on.
    expires_at: datetime | None = None
    revoked: bool = False


def load_principal_entries(path: Path) -> list[PrincipalEntry]:
    """Reads the principals of a YAML principals file with their credentials.

    Raises:
        PrincipalsFileError: the file cannot be read or validated, gives a key twice in one
            entry, names an unknown role, gives a principal no credential, or names a principal
            ambiguously (an id used twice, even in two tenants or differing only by case; a
            token or a certificate subject or fingerprint shared; the server's own actor id).
            The message names the file, the line and the fix.
    """
    document = _read(path)
    spec = _validate(document)
    for i, p in enumerate(spec.principals):
        for loc, named in [(("roles",), p.roles)] + [
            (("grants", g, "roles"), grant.roles) for g, grant in enumerate(p.grants)
        ]:
            unknown = sorted(set(named) - set(ROLES))
            if unknown:
                raise document.error(
                    ("principals", i, *loc),
                    f"principal {p.id}: unknown roles {unknown}",
                    f"use the known roles: {', '.join(ROLES)}",
                )
    _refuse_ambiguity(document, spec)
    _refuse_shared_certificates(document, spec)
    loaded = []
    for p in spec.principals:
        roles = {p.tenant: frozenset(p.roles)}
        for grant in p.grants:
            roles[grant.tenant] = roles.get(grant.tenant, frozenset()) | frozenset(grant.roles)
        certificate = p.certificate
        loaded.append(
            PrincipalEntry(
                Principal(p.id, p.tenant, roles, p.display_name),
                p.token_sha256,
                certificate.subject if certificate else None,
                certificate.sha256 if certificate else None,
                p.expires_at.astimezone(UTC) if p.expires_at else None,
                p.revoked,
            )
        )
    return loaded


def load_principals(path: Path) -> list[tuple[Principal, str | None]]:
    """Reads (principal, token hash or None) pairs; see `load_principal_entries`."""
    return [(e.principal, e.token_sha256) for e in load_principal_entries(path)]
