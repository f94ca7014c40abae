"""A gateway serving mutual TLS with a throw-away CA (principals mapped to certificates, tokens
that expire or are revoked, a clock the tests move) and a gateway serving TLS alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from aval.clients import Client
from aval.service.identity import token_hash
from tests.support import ClockFile, ServerProcess, principal_entries, token_of
from tests.throwaway_ca import Issued, ThrowawayCA

# When the token of app-expiring stops working, on the servers' clock.
EXPIRY = datetime.now(UTC) + timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    """The certificates of the tests: one CA's, and another CA's that no server trusts."""

    ca: ThrowawayCA
    server: Issued
    by_subject: Issued  # app-cert, mapped by its subject
    by_print: Issued  # app-pinned, mapped by its fingerprint
    unmapped: Issued  # issued by the CA, named by no principal
    expired: Issued  # would be app-cert's, had it not expired
    foreign: Issued  # app-cert's subject, issued by another CA


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = ThrowawayCA(folder)
    other = ThrowawayCA(folder / "other", "Other CA")
    now = datetime.now(UTC)
    return Pki(
        ca=ca,
        server=ca.issue("server", "localhost", server=True),
        by_subject=ca.issue("by-subject", "app-urbanisme"),
        by_print=ca.issue("by-print", "app-voirie"),
        unmapped=ca.issue("unmapped", "app-inconnue"),
        expired=ca.issue(
            "expired",
            "app-urbanisme",
            not_before=now - timedelta(days=10),
            not_after=now - timedelta(days=1),
        ),
        foreign=other.issue("foreign", "app-urbanisme"),
    )


def tls_env(pki: Pki, *, client_ca: bool) -> dict[str, str]:
    env = {
        "AVAL_TLS_CERT_FILE": str(pki.server.cert_file),
        "AVAL_TLS_KEY_FILE": str(pki.server.key_file),
    }
    if client_ca:
        env["AVAL_TLS_CLIENT_CA_FILE"] = str(pki.ca.cert_file)
    return env


def _principals(pki: Pki, folder: Path) -> Path:
    entries = principal_entries()
    entries += [
        {
            "id": "app-cert",
            "tenant": "ville-a",
            "roles": ["application"],
            "certificate": {"subject": pki.by_subject.subject},
        },
        {
            "id": "app-pinned",
            "tenant": "ville-a",
            "roles": ["application"],
            "certificate": {"sha256": pki.by_print.sha256},
        },
        {
            "id": "app-expiring",
            "tenant": "ville-a",
            "roles": ["application"],
            "token_sha256": token_hash(token_of("app-expiring")),
            "expires_at": EXPIRY.isoformat(),
        },
        {
            "id": "app-revoked",
            "tenant": "ville-a",
            "roles": ["application"],
            "token_sha256": token_hash(token_of("app-revoked")),
            "revoked": True,
        },
    ]
    path = folder / "tls-principals.yaml"
    path.write_text(yaml.safe_dump({"principals": entries}), encoding="utf-8")
    return path


@pytest.fixture(scope="package")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    return ClockFile(tmp_path_factory.mktemp("tls-clock"))


@pytest.fixture(scope="package")
def mtls_server(
    new_database: Callable[..., str],
    pki: Pki,
    clock: ClockFile,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """Mutual TLS: every caller presents a certificate the test CA issued."""
    folder = tmp_path_factory.mktemp("mtls-server")
    env = {
        "AVAL_PRINCIPALS_FILE": str(_principals(pki, folder)),
        **tls_env(pki, client_ca=True),
        **clock.env,
    }
    process = ServerProcess.start(new_database(), folder, name="mtls", extra_env=env)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="package")
def tls_server(
    database_url: str, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """TLS alone: callers prove who they are with their tokens."""
    folder = tmp_path_factory.mktemp("tls-server")
    env = tls_env(pki, client_ca=False)
    process = ServerProcess.start(database_url, folder, name="tls", extra_env=env)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def mtls_client(
    server: ServerProcess, pki: Pki, certificate: Issued, principal: str | None = None
) -> Client:
    """A client presenting `certificate`, and `principal`'s token when given."""
    return Client(
        server.address,
        token_of(principal) if principal else None,
        timeout=20,
        ca_file=pki.ca.cert_file,
        client_cert_file=certificate.cert_file,
        client_key_file=certificate.key_file,
    )
