"""The principals file as an authenticator: bearer tokens (only their hashes stored) and client
certificates, with expiry and revocation, rebuilt from the file when it is reloaded."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aval.service.client_certificates import PresentedCertificate
from aval.service.clock import SYSTEM_CLOCK, Clock
from aval.service.errors import Unauthenticated
from aval.service.identity import (
    Credentials,
    Principal,
    PrincipalEntry,
    load_principal_entries,
    token_hash,
)

log = logging.getLogger("aval")

# A credential expiring sooner than this is warned about when the file is loaded, so that the
# operator issues a new one before its caller is refused.
EXPIRY_WARNING = timedelta(days=14)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class _Tables:
    """One version of the file, swapped whole on reload: a call sees the old or the new."""

    by_hash: dict[str, PrincipalEntry]
    by_certificate: tuple[PrincipalEntry, ...]
    principals: tuple[Principal, ...]


def _tables(entries: Sequence[PrincipalEntry]) -> _Tables:
    ids = [e.principal.id for e in entries]
    hashes = [e.token_sha256 for e in entries if e.token_sha256 is not None]
    subjects = [e.certificate_subject for e in entries if e.certificate_subject is not None]
    prints = [e.certificate_sha256 for e in entries if e.certificate_sha256 is not None]
    for values in (ids, hashes, subjects, prints):
        if len(set(values)) != len(values):
            # What records a principal by its id (the trail, separation of duties) needs this.
            raise ValueError("each principal needs an id and credentials of its own (I5)")
    return _Tables(
        by_hash={e.token_sha256: e for e in entries if e.token_sha256 is not None},
        by_certificate=tuple(e for e in entries if e.certificate_subject or e.certificate_sha256),
        principals=tuple(e.principal for e in entries),
    )


def warn_expiring(entries: Iterable[PrincipalEntry], now: datetime, source: object) -> None:
    """Logs the credentials that expired, or expire within EXPIRY_WARNING (never a secret)."""
    for entry in entries:
        if entry.expires_at is None or entry.revoked:
            continue
        if entry.expires_at <= now:
            log.warning(
                "the credentials of principal %s expired on %s (%s)",
                entry.principal.id,
                _utc(entry.expires_at),
                source,
            )
        elif entry.expires_at - now < EXPIRY_WARNING:
            log.warning(
                "the credentials of principal %s expire on %s: give it new ones and a later "
                "expires_at (%s)",
                entry.principal.id,
                _utc(entry.expires_at),
                source,
            )


class FileAuthenticator:
    """Callers of the principals file: a bearer token in `authorization` (its SHA-256 looked
    up), or else the client certificate TLS verified against the client CA.

    A token wins over a certificate: the certificate then only opened the connection. Expiry
    is read on the deployment's clock, like every other time of the deployment (deadlines,
    claims), so that one clock decides and end-to-end tests move it.
    """

    def __init__(
        self,
        entries: Sequence[PrincipalEntry],
        *,
        clock: Clock = SYSTEM_CLOCK,
        path: Path | None = None,
    ) -> None:
        self._clock = clock
        self.path = path
        self._current = _tables(entries)
        warn_expiring(entries, clock.now(), path or "principals")

    @classmethod
    def from_file(cls, path: Path, *, clock: Clock = SYSTEM_CLOCK) -> FileAuthenticator:
        """An authenticator of the principals file at `path`.

        Raises:
            PrincipalsFileError: the file cannot be used (see `load_principal_entries`).
        """
        return cls(load_principal_entries(path), clock=clock, path=path)

    @classmethod
    def of_tokens(
        cls, pairs: Iterable[tuple[Principal, str | None]], *, clock: Clock = SYSTEM_CLOCK
    ) -> FileAuthenticator:
        """An authenticator of (principal, token hash) pairs, none expiring (for tests)."""
        return cls([PrincipalEntry(p, h) for p, h in pairs], clock=clock)

    @property
    def principals(self) -> list[Principal]:
        return list(self._current.principals)

    def reload(self) -> list[Principal]:
        """Reads the file again and serves it from the next call on; returns its principals.

        Raises:
            PrincipalsFileError: the file cannot be used; the one served so far stays.
        """
        if self.path is None:
            raise ValueError("this authenticator was not read from a file")
        fresh = FileAuthenticator.from_file(self.path, clock=self._clock)
        self.adopt(fresh)
        return fresh.principals

    @property
    def clock(self) -> Clock:
        """The clock expiry is read on."""
        return self._clock

    def adopt(self, fresh: FileAuthenticator) -> None:
        """Serves what `fresh` read from the next call on (one assignment: each call sees one
        version of the file whole)."""
        self._current = fresh._current

    async def authenticate(self, credentials: Credentials) -> Principal:
        tables = self._current
        text = credentials.header("authorization")
        if text is None:
            if credentials.peer_certificate is not None:
                return self._valid(self._by_certificate(tables, credentials.peer_certificate))
            raise Unauthenticated("NO_CREDENTIALS")
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("MALFORMED_CREDENTIALS")
        digest = token_hash(token.strip())
        found = None
        for known, entry in tables.by_hash.items():
            if hmac.compare_digest(known, digest):
                found = entry
        if found is None:
            raise Unauthenticated("UNKNOWN_TOKEN")
        return self._valid(found)

    @staticmethod
    def _by_certificate(tables: _Tables, pem: str) -> PrincipalEntry:
        presented = PresentedCertificate.of_pem(pem)
        if presented is None:  # TLS verified it: only a bug of ours gets here
            raise Unauthenticated("UNKNOWN_CERTIFICATE", subject="?", sha256="?")
        found = [
            e
            for e in tables.by_certificate
            if presented.matches(e.certificate_subject, e.certificate_sha256)
        ]
        if not found:
            raise Unauthenticated(
                "UNKNOWN_CERTIFICATE", subject=presented.subject, sha256=presented.sha256
            )
        if len(found) > 1:
            # One principal names it by subject, another by fingerprint: neither is chosen.
            raise Unauthenticated("AMBIGUOUS_CERTIFICATE", subject=presented.subject)
        return found[0]

    def _valid(self, entry: PrincipalEntry) -> Principal:
        if entry.revoked:
            raise Unauthenticated("CREDENTIAL_REVOKED")
        if entry.expires_at is not None and self._clock.now() >= entry.expires_at:
            raise Unauthenticated("CREDENTIAL_EXPIRED", expired_at=_utc(entry.expires_at))
        return entry.principal


# The name of the file authenticator before it knew certificates.
TokenAuthenticator = FileAuthenticator
