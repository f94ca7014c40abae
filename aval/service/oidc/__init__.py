"""People signing in through OpenID Connect providers (Keycloak, AD FS, ProConnect…): the
AVAL_OIDC_FILE configuration, the providers' keys, and the authenticator of their tokens."""

from aval.service.oidc.authenticator import (
    CompositeAuthenticator,
    OidcAuthenticator,
    OidcPrincipal,
    principal_id,
)
from aval.service.oidc.config import OidcConfig, load_oidc, load_oidc_file

__all__ = [
    "CompositeAuthenticator",
    "OidcAuthenticator",
    "OidcConfig",
    "OidcPrincipal",
    "load_oidc",
    "load_oidc_file",
    "principal_id",
]
