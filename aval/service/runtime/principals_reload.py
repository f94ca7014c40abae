"""Reloading the principals file in a running server: the authenticator of its credentials and
the authorizer of its principals' roles, swapped together or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aval.service.authorization import Authorizer
from aval.service.configuration import ConfigurationInvalid, Revision, Staged, fingerprint
from aval.service.deployment import Deployment
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Principal, PrincipalsFileError


def file_authenticator_of(deployment: Deployment) -> FileAuthenticator | None:
    """The authenticator of the principals file a deployment serves, if any (alone, or behind
    the OpenID Connect one)."""
    served = deployment.authenticator
    for candidate in (served, getattr(served, "other", None)):
        if isinstance(candidate, FileAuthenticator):
            return candidate
    return None


@dataclass
class _Adoption:
    revision: Revision
    authenticator: FileAuthenticator
    fresh: FileAuthenticator
    part: PrincipalsPart
    seen: str

    def apply(self) -> None:
        self.authenticator.adopt(self.fresh)
        self.part.seen = self.seen


@dataclass
class PrincipalsPart:
    """The principals file (AVAL_PRINCIPALS_FILE): tokens, client certificates, roles, expiry
    and revocation, served from the next call after a reload."""

    authenticator: FileAuthenticator
    path: Path
    name: str = "principals"
    seen: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.seen = self._fingerprint()

    def _fingerprint(self) -> str:
        try:
            return fingerprint([("principals", self.path.read_bytes())])
        except OSError:
            return ""

    def stage(self) -> Staged:
        seen = self._fingerprint()
        try:
            fresh = FileAuthenticator.from_file(self.path, clock=self.authenticator.clock)
        except PrincipalsFileError as exc:
            problem = f"{exc.field}: {exc.message}"
            raise ConfigurationInvalid(
                self.name, str(exc.path), exc.line, problem, exc.fix
            ) from exc
        revision = Revision(self.name, {"principals": seen}, seen != self.seen)
        return _Adoption(revision, self.authenticator, fresh, self, seen)


def reload_principals(deployment: Deployment, authenticator: FileAuthenticator) -> list[Principal]:
    """Reads `authenticator`'s file again and serves it, with an authorizer of its principals
    (the grants file read again too); returns the principals now served.

    For the reload mechanism (an admin call, SIGHUP): a revoked or expired entry, a new
    principal or a change of roles takes effect from the next call.

    Raises:
        PrincipalsFileError: the principals file cannot be used.
        GrantsFileError: the grants file cannot be used.
        ValueError: `authenticator` was not read from a file.
        Either way nothing changed: the file and grants served so far stay.
    """
    if authenticator.path is None:
        raise ValueError("this authenticator was not read from a file")
    fresh = FileAuthenticator.from_file(authenticator.path, clock=deployment.clock)
    authorizer = Authorizer(grants_file=deployment.settings.grants_file)
    authenticator.adopt(fresh)
    deployment.authorizer = authorizer
    return fresh.principals
