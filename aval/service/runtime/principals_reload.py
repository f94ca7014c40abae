"""Reloading the principals file in a running server: the authenticator of its credentials and
the authorizer of its principals' roles, swapped together or not at all."""

from __future__ import annotations

from aval.service.authorization import Authorizer
from aval.service.deployment import Deployment
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Principal


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
    authorizer = Authorizer(fresh.principals, deployment.settings.grants_file)
    authenticator.adopt(fresh)
    deployment.authorizer = authorizer
    return fresh.principals
