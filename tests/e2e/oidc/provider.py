"""A real OpenID provider (tests/oidc/provider.mjs, oidc-provider from npm) in a node process,
and user tokens got from it through the authorization code flow with PKCE, as a console would."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "tests" / "oidc"
REDIRECT_URI = "http://127.0.0.1/callback"
SCOPE = "aval"


def require_node() -> str:
    """The node binary, once `make test-setup` installed the provider's packages; in CI their
    absence fails the test, elsewhere it skips it with the reason."""
    node = shutil.which("node")
    installed = (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()
    if node and installed:
        return node
    why = (
        "node is not installed"
        if not node
        else "tests/oidc/node_modules is missing: run `make test-setup` (npm ci in tests/oidc)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"the OpenID Connect tests need a real provider: {why}")
    pytest.skip(f"no real OpenID provider: {why}")


def rsa_jwk(kid: str) -> dict[str, Any]:
    """A private RSA signing key as a JWK, the form the provider takes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def ec_jwk(kid: str) -> dict[str, Any]:
    """A private P-256 signing key as a JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


@dataclass
class Provider:
    """One provider process; `restart(keys)` keeps its issuer (the same port)."""

    folder: Path
    keys: list[dict[str, Any]]
    audience: str
    accounts: dict[str, dict[str, Any]]
    access_ttl: int = 300
    name: str = "provider"
    # More return addresses of the `console` client (a real console's, in browser tests).
    redirect_uris: list[str] = field(default_factory=list)
    port: int = 0
    issuer: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Provider:
        node = require_node()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / f"{self.name}.json"
        config.write_text(
            json.dumps(
                {
                    "keys": self.keys,
                    "audience": self.audience,
                    "scope": SCOPE,
                    "access_ttl": self.access_ttl,
                    "port": self.port,
                    "accounts": self.accounts,
                    "redirect_uris": self.redirect_uris,
                }
            ),
            encoding="utf-8",
        )
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [node, str(PROVIDER_DIR / "provider.mjs"), str(config)],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the provider did not start: {line!r}, see {log.name}")
        self.issuer = line.split()[1]
        self.port = int(urlsplit(self.issuer).port or 0)
        # What it prints next (notices) goes nowhere: nobody reads the pipe any more.
        self.process.stdout.close()
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, keys: list[dict[str, Any]]) -> None:
        self.stop()
        self.keys = keys
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def user_token(self, login: str, client: str = "console") -> str:
        """An access token of `login`, through the authorization code flow with PKCE."""
        return str(self.sign_in(login, client)["access_token"])

    def sign_in(self, login: str, client: str = "console") -> dict[str, Any]:
        """The token response of `login`'s sign-in (authorization code flow with PKCE)."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        with httpx.Client(follow_redirects=False, timeout=10, trust_env=False) as http:
            answer = http.get(
                f"{self.issuer}/auth",
                params={
                    "client_id": client,
                    "response_type": "code",
                    "redirect_uri": REDIRECT_URI,
                    "scope": f"openid {SCOPE}",
                    "state": secrets.token_urlsafe(8),
                    "nonce": secrets.token_urlsafe(8),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            for _ in range(10):
                assert answer.status_code in (302, 303), answer.text
                location = urljoin(self.issuer, answer.headers["location"])
                if location.startswith(REDIRECT_URI):
                    break
                if "/interaction/" in location:
                    page = http.get(location)  # which prompt it asks: login, then consent
                    prompt = "login" if 'name="login"' in page.text else "consent"
                    answer = http.post(location, data={"prompt": prompt, "login": login})
                else:
                    answer = http.get(location)
            else:
                raise AssertionError("the sign-in never came back to the console")
            code = parse_qs(urlsplit(location).query)["code"][0]
            token = http.post(
                f"{self.issuer}/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
                auth=(client, "console-secret"),
            )
            assert token.status_code == 200, token.text
            answer_json: dict[str, Any] = token.json()
            return answer_json

    def machine_token(self) -> str:
        with httpx.Client(timeout=10, trust_env=False) as http:
            token = http.post(
                f"{self.issuer}/token",
                data={"grant_type": "client_credentials", "resource": self.audience},
                auth=("machine", "machine-secret"),
            )
            assert token.status_code == 200, token.text
            return str(token.json()["access_token"])
