"""Checks an access token from an identity provider (RFC 8725, RFC 9068) before any claim of it
is believed.

Token times are checked against the real time, not the deployment's clock: the provider sets
`iat` and `exp` from its own wall clock, and the test clock (AVAL_TEST_CLOCK_FILE) moves
decision deadlines only; moving it would not make a real token expire, nor a stolen one live.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from typing import Any

import jwt

from aval.service.errors import Unauthenticated
from aval.service.oidc.config import ALGORITHMS, IssuerConfig
from aval.service.oidc.keys import IssuerKeys, SigningKey
from aval.verifier.chain import parse_json

# Characters of a token, checked before anything of it is decoded: larger is not an access
# token of any provider Aval knows, and would only cost the server work.
MAX_TOKEN_CHARS = 8 * 1024
SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
# Headers that would name the key or its source in the token itself; keys come only from the
# issuer's key set. `crit` asks for extensions Aval does not implement (RFC 7515, 4.1.11).
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_SUBJECT = 255


def _segment(text: str) -> Any:
    try:
        return parse_json(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise Unauthenticated("MALFORMED_TOKEN") from exc


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, not yet verified: only to choose issuer and key.

    Raises:
        Unauthenticated: TOKEN_TOO_LARGE or MALFORMED_TOKEN.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("TOKEN_TOO_LARGE", limit=MAX_TOKEN_CHARS)
    parts = token.split(".")
    if len(parts) != 3 or not all(SEGMENT.match(p) for p in parts):
        raise Unauthenticated("MALFORMED_TOKEN")
    header, payload = _segment(parts[0]), _segment(parts[1])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Unauthenticated("MALFORMED_TOKEN")
    return header, payload


def _check_header(header: Mapping[str, Any], issuer: IssuerConfig) -> tuple[str, str]:
    """(alg, kid) of an acceptable header."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in issuer.algorithms or alg not in ALGORITHMS:
        raise Unauthenticated(
            "ALGORITHM_REFUSED",
            algorithm=str(alg)[:20],
            issuer=issuer.name,
            allowed=", ".join(issuer.algorithms),
        )
    forbidden = sorted(h for h in FORBIDDEN_HEADERS if h in header)
    if forbidden:
        raise Unauthenticated("FORBIDDEN_TOKEN_HEADER", headers=", ".join(forbidden))
    kind = header.get("typ")
    shown = kind.lower().removeprefix("application/") if isinstance(kind, str) else None
    accepted = {t.lower() for t in issuer.token_types}
    if shown not in accepted:
        raise Unauthenticated(
            "WRONG_TOKEN_TYPE",
            type=kind[:20] if isinstance(kind, str) else "-",
            issuer=issuer.name,
            allowed=", ".join(issuer.token_types),
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("UNKNOWN_SIGNING_KEY", issuer=issuer.name, kid="")
    return alg, kid


def _check_key(key: SigningKey, alg: str, issuer: IssuerConfig, kid: str) -> None:
    """The key must be one for `alg`: its own `alg` when it names one, else its type."""
    if (key.alg is not None and key.alg != alg) or KEY_TYPES.get(alg[:2]) != key.kty:
        raise Unauthenticated("BAD_SIGNATURE", issuer=issuer.name, kid=kid[:40])


async def verify(token: str, issuer: IssuerConfig, keys: IssuerKeys) -> dict[str, Any]:
    """The claims of a token this issuer signed for this audience, valid now.

    Raises:
        Unauthenticated: with a reason of its own for every check that fails.
    """
    header, _ = unverified_parts(token)
    alg, kid = _check_header(header, issuer)
    key = await keys.key(kid)
    _check_key(key, alg, issuer, kid)
    skew = issuer.clock_skew_seconds
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key.key,
            algorithms=[alg],
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=skew,
            options={"require": ["exp", "iss", "aud", "sub"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("TOKEN_EXPIRED", issuer=issuer.name) from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthenticated(
            "WRONG_AUDIENCE", issuer=issuer.name, audience=issuer.audience
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise Unauthenticated("UNKNOWN_ISSUER") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthenticated("TOKEN_NOT_YET_VALID", issuer=issuer.name) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated("MISSING_CLAIM", issuer=issuer.name, claim=exc.claim) from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthenticated("BAD_SIGNATURE", issuer=issuer.name, kid=kid[:40]) from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("MALFORMED_TOKEN") from exc
    iat = claims.get("iat")
    if iat is not None:
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise Unauthenticated("MALFORMED_TOKEN")
        if iat > time.time() + skew:
            raise Unauthenticated("TOKEN_NOT_YET_VALID", issuer=issuer.name)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT or not sub.isprintable():
        raise Unauthenticated("BAD_SUBJECT", issuer=issuer.name)
    return claims
