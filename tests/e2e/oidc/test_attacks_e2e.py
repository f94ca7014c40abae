"""What an attacker could send as a bearer token, against a server that trusts a real OpenID
provider: each is refused UNAUTHENTICATED with its own reason, fast, and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from tests.e2e.helpers import queue_ids
from tests.support import ServerProcess, token_of

from .conftest import AUDIENCE
from .provider import Provider


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(issuer: str, sub: str = "sup1", **more: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300}
    return {**base, "groups": ["aval-superviseurs"], "tenant": "ville-a", **more}


@pytest.fixture
def refusal_of(
    oidc_server: ServerProcess, written: Callable[[], tuple[int, int]]
) -> Iterator[Callable[[str], AvalError]]:
    """Calls ListQueue with `token`; returns the refusal, having checked nothing was written."""
    clients: list[Client] = []

    def call(token: str) -> AvalError:
        client = Client(oidc_server.address, token, timeout=20)
        clients.append(client)
        before = written()
        with pytest.raises(AvalError) as caught:
            list(queue_ids(client))
        assert written() == before
        return caught.value

    yield call
    for client in clients:
        client.close()


def test_alg_none_is_refused(idp: Provider, refusal_of: Callable[[str], AvalError]) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'k1'})}.{b64(claims_of(idp.issuer))}."
    error = refusal_of(token)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    # An empty signature is not even the shape of a signed token.
    assert error.reason in ("MALFORMED_TOKEN", "ALGORITHM_REFUSED")
    with_signature = token + "c2lnbmF0dXJl"
    assert refusal_of(with_signature).reason == "ALGORITHM_REFUSED"


def test_hs256_signed_with_the_providers_public_key_is_refused(
    idp: Provider, keys: dict[str, dict[str, Any]], refusal_of: Callable[[str], AvalError]
) -> None:
    """The classic confusion: the public key (known to all) used as an HMAC secret."""
    public_pem = (
        jwt.PyJWK(keys["k1"])
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
    body = b64(claims_of(idp.issuer))
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    error = refusal_of(f"{header}.{body}.{b64(mac)}")
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "ALGORITHM_REFUSED"


def test_a_token_of_a_provider_not_configured_is_refused_without_asking_it(
    stranger: Provider, refusal_of: Callable[[str], AvalError]
) -> None:
    error = refusal_of(stranger.user_token("sup1"))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "UNKNOWN_ISSUER"
    assert "AVAL_OIDC_FILE" in str(error)


def test_a_token_signed_by_another_key_under_the_providers_name_is_refused(
    idp: Provider, keys: dict[str, dict[str, Any]], refusal_of: Callable[[str], AvalError]
) -> None:
    """The configured issuer and a kid it publishes, signed with the attacker's own key."""
    kid = str(idp.keys[0]["kid"])
    attacker = jwt.PyJWK(keys["attacker"]).key
    token = jwt.encode(
        claims_of(idp.issuer), attacker, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
    )
    error = refusal_of(token)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "BAD_SIGNATURE"


def test_a_token_naming_its_own_key_source_is_refused(
    idp: Provider, keys: dict[str, dict[str, Any]], refusal_of: Callable[[str], AvalError]
) -> None:
    attacker = jwt.PyJWK(keys["attacker"]).key
    for extra in (
        {"jku": "http://127.0.0.1:1/jwks"},
        {"x5u": "http://127.0.0.1:1/cert.pem"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"crit": ["exp"]},
    ):
        token = jwt.encode(
            claims_of(idp.issuer),
            attacker,
            algorithm="RS256",
            headers={"kid": "attacker", "typ": "at+jwt", **extra},
        )
        error = refusal_of(token)
        assert error.reason == "FORBIDDEN_TOKEN_HEADER", (extra, error.reason)
        assert next(iter(extra)) in str(error)


def test_oversized_and_garbage_tokens_are_refused(
    idp: Provider, refusal_of: Callable[[str], AvalError]
) -> None:
    # Every size from just over the 8 KiB cap to the 16 KiB of metadata gRPC lets through gets
    # Aval's named refusal, every time (between gRPC's default soft and hard metadata limits,
    # it refused calls at random, with no reason).
    for size in [*range(8_300, 16_000, 700)] * 3:
        large = f"{b64({'alg': 'RS256'})}.{'A' * size}.{'B' * 100}"
        assert refusal_of(large).reason == "TOKEN_TOO_LARGE", size
    for garbage in ("a.b.c", "..", "%%.$$.**", "x" * 50 + "." + "y" * 50 + ".z", "e30.e30.e30"):
        error = refusal_of(garbage)
        assert error.code == grpc.StatusCode.UNAUTHENTICATED, garbage
        assert error.reason in ("MALFORMED_TOKEN", "UNKNOWN_ISSUER", "MALFORMED_CREDENTIALS")
    # JSON nested deeper than the parser goes, under the size cap: malformed, not a crash.
    nested = b64(b"[" * 2000 + b"]" * 2000)
    for token in (
        f"{nested}.{b64(claims_of(idp.issuer))}.c2ln",
        f"{b64({'alg': 'RS256'})}.{nested}.c2ln",
    ):
        error = refusal_of(token)
        assert error.code == grpc.StatusCode.UNAUTHENTICATED, error
        assert error.reason == "MALFORMED_TOKEN", error


def test_a_megabyte_token_is_refused(
    oidc_server: ServerProcess, written: Callable[[], tuple[int, int]]
) -> None:
    """Beyond what gRPC lets through as metadata: refused before Aval reads it, writing
    nothing, and the server still answers."""
    token = "a." + "b" * (1024 * 1024) + ".c"
    before = written()
    with Client(oidc_server.address, token, timeout=20) as client, pytest.raises(AvalError):
        list(queue_ids(client))
    assert written() == before
    with Client(oidc_server.address, token_of("sup-a1"), timeout=20) as client:
        list(queue_ids(client))


@pytest.mark.parametrize("which", ["refusing connections", "never answering"])
def test_an_issuer_whose_keys_cannot_be_fetched_is_refused_fast(
    down_issuer: str,
    silent_issuer: str,
    keys: dict[str, dict[str, Any]],
    refusal_of: Callable[[str], AvalError],
    which: str,
) -> None:
    issuer, name = (
        (down_issuer, "down-idp")
        if which == "refusing connections"
        else (silent_issuer, "silent-idp")
    )
    attacker = jwt.PyJWK(keys["attacker"]).key
    token = jwt.encode(
        claims_of(issuer), attacker, algorithm="RS256", headers={"kid": "d1", "typ": "at+jwt"}
    )
    for _ in range(3):  # the first asks the provider; the next are refused at once
        started = time.monotonic()
        error = refusal_of(token)
        assert time.monotonic() - started < 3
        assert error.code == grpc.StatusCode.UNAUTHENTICATED
        assert error.reason == "ISSUER_UNREACHABLE" and name in str(error)


def test_the_providers_id_token_is_not_an_access_token(
    idp: Provider, refusal_of: Callable[[str], AvalError]
) -> None:
    """Really signed by the provider, but an ID token (no `typ`, audience the console)."""
    id_token = str(idp.sign_in("sup1")["id_token"])
    assert "typ" not in jwt.get_unverified_header(id_token)
    error = refusal_of(id_token)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "WRONG_TOKEN_TYPE"
    assert "ID token" in str(error)


def test_a_machine_token_of_the_provider_gives_no_role(
    idp: Provider, oidc_server: ServerProcess
) -> None:
    """Client credentials: a valid token of the client itself, no groups, so no role."""
    with (
        Client(oidc_server.address, idp.machine_token(), timeout=20) as client,
        pytest.raises(AvalError) as caught,
    ):
        list(queue_ids(client))
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "oidc:test-idp:machine" in str(caught.value)
