"""Real OpenID providers (node, oidc-provider) and one `aval serve` that trusts two of them."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import yaml

from tests.support import ServerProcess

from .provider import Provider, rsa_jwk

AUDIENCE = "urn:aval:test"
# The people of the main provider: the claims its access tokens carry besides the standard ones.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "sup1": {"groups": ["aval-superviseurs"], "tenant": "ville-a", "name": "Sophie Martin"},
    "insp1": {"groups": ["aval-inspection", "cantine"], "tenant": "ville-a"},
    "nogroup": {"groups": ["cantine"], "tenant": "ville-a"},
    "supb": {"groups": ["aval-superviseurs"], "tenant": "ville-b"},
}
# Tenants beyond the tests' two, each mapped to a provider of its own (one issuer per tenant).
EXTRA_POLICY = """
tenant: {tenant}
preset: cautious_trial
contact: "Mairie de test"
decision_types:
  voirie.signalement:
    purpose: "orienter les signalements"
"""


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="package")
def keys() -> dict[str, dict[str, Any]]:
    return {kid: rsa_jwk(kid) for kid in ("k1", "k2", "attacker")}


@pytest.fixture(scope="package")
def idp(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, dict[str, Any]]
) -> Iterator[Provider]:
    """The tenants' provider, signing with k1 (the rotation test moves it to k2)."""
    folder = tmp_path_factory.mktemp("idp")
    provider = Provider(folder, [keys["k1"]], AUDIENCE, ACCOUNTS, name="idp").start()
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def other_audience(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, dict[str, Any]]
) -> Iterator[Provider]:
    """A configured provider whose tokens are meant for another resource."""
    folder = tmp_path_factory.mktemp("other")
    provider = Provider(
        folder, [rsa_jwk("o1")], "urn:other:app", ACCOUNTS, name="other-audience"
    ).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A real provider this server is not configured to trust."""
    folder = tmp_path_factory.mktemp("stranger")
    provider = Provider(folder, [rsa_jwk("s1")], AUDIENCE, ACCOUNTS, name="stranger").start()
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def down_issuer() -> str:
    """A provider nothing listens for: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="package")
def silent_issuer() -> Iterator[str]:
    """A provider that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # the kernel completes handshakes; nobody ever reads
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def oidc_file(idp: Provider, other: Provider, down: str, silent: str) -> dict[str, Any]:
    return {
        "issuers": [
            {
                "name": "test-idp",
                "issuer": idp.issuer,
                "audience": AUDIENCE,
                "clock_skew_seconds": 0,
                "jwks_max_age_seconds": 1,
                "refetch_interval_seconds": 1,
            },
            {"name": "other-aud", "issuer": other.issuer, "audience": AUDIENCE},
            {"name": "down-idp", "issuer": down, "audience": AUDIENCE},
            {"name": "silent-idp", "issuer": silent, "audience": AUDIENCE},
        ],
        "tenants": {
            "ville-a": {
                "issuer": "test-idp",
                "when": {"claim": "tenant", "equals": "ville-a"},
                "roles_claim": "groups",
                "roles": {
                    "aval-superviseurs": ["supervisor"],
                    "aval-inspection": ["inspector"],
                },
            },
            "ville-b": {
                "issuer": "test-idp",
                "when": {"claim": "tenant", "equals": "ville-b"},
                "roles": {"aval-superviseurs": ["supervisor"]},
            },
            "ville-c": {"issuer": "other-aud", "roles": {"aval-superviseurs": ["supervisor"]}},
            "ville-d": {"issuer": "down-idp", "roles": {"aval-superviseurs": ["supervisor"]}},
            "ville-e": {"issuer": "silent-idp", "roles": {"aval-superviseurs": ["supervisor"]}},
        },
    }


@pytest.fixture(scope="package")
def oidc_server(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    idp: Provider,
    other_audience: Provider,
    down_issuer: str,
    silent_issuer: str,
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("oidc-server")
    (folder / "policies").mkdir()
    for tenant in ("ville-c", "ville-d", "ville-e"):
        (folder / "policies" / f"{tenant}.yaml").write_text(
            EXTRA_POLICY.format(tenant=tenant), encoding="utf-8"
        )
    path = folder / "oidc.yaml"
    path.write_text(
        yaml.safe_dump(oidc_file(idp, other_audience, down_issuer, silent_issuer)), "utf-8"
    )
    process = ServerProcess.start(
        database_url, folder, name="oidc-server", extra_env={"AVAL_OIDC_FILE": str(path)}
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture
def written(database_url: str) -> Callable[[], tuple[int, int]]:
    """(events, decisions) in the whole database: a refusal must change neither."""

    def count() -> tuple[int, int]:
        with psycopg.connect(database_url) as conn:
            events = conn.execute("SELECT count(*) FROM aval.audit_events").fetchone()
            decisions = conn.execute("SELECT count(*) FROM aval.decisions").fetchone()
        assert events is not None and decisions is not None
        return int(events[0]), int(decisions[0])

    return count
