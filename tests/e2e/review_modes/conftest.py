"""A real `aval serve` whose ville-a has decision types in each review mode, and (for the
authentication-level tests) one that also trusts a real OpenID provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aval.clients import Client
from tests.e2e.helpers import Raw
from tests.e2e.oidc.provider import Provider, rsa_jwk
from tests.support import POLICIES, ServerProcess, clients_of

AUDIENCE = "urn:aval:test"
# The people of the provider; `acr` is the authentication level their tokens carry.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "agent-fort": {"groups": ["aval-superviseurs"], "acr": "eidas2", "name": "Agnès Fort"},
    "agent-faible": {"groups": ["aval-superviseurs"], "acr": "eidas1", "name": "Paul Faible"},
}

MODES = """
  avis.premier:
    purpose: "orienter les signalements, l'agent se prononçant avant de voir l'IA"
    required_approvals: 1
    decide_first: true
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete, eclairage, espaces_verts]}
      required: [service]
      additionalProperties: false
    input_fields:
      - name: description
        label: {fr: "Description du signalement", en: "Report description"}
  aides.aveugle:
    purpose: "instruire les demandes d'aide facultative en double examen à l'aveugle"
    required_approvals: 2
    blind_second_review: true
    justification_required_for: [amend, reject]
    deadline: 30d
  acr.requis:
    purpose: "tester le niveau d'authentification des approbateurs"
    required_approvals: 1
    approver_acr: [eidas2, eidas3]
"""


def write_policies(folder: Path) -> Path:
    """The tests' policies, ville-a with the review-mode types added."""
    policies = folder / "mode-policies"
    policies.mkdir(parents=True, exist_ok=True)
    for tenant, text in POLICIES.items():
        extra = MODES if tenant == "ville-a" else ""
        (policies / f"{tenant}.yaml").write_text(text.rstrip("\n") + extra, encoding="utf-8")
    return policies


@pytest.fixture(scope="package")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("review-modes")
    env = {"AVAL_POLICY_DIR": str(write_policies(folder)), "AVAL_MAX_QUEUE_WATCHERS": "4"}
    process = ServerProcess.start(database_url, folder, name="modes", extra_env=env)
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="package")
def client_of(server: ServerProcess) -> Iterator[Callable[[str], Client]]:
    """`client_of("sup-a1")`: a blocking SDK client of the modes server."""
    yield from clients_of(server)


@pytest.fixture(scope="package")
def raw(server: ServerProcess) -> Iterator[Raw]:
    stubs = Raw(server.address)
    yield stubs
    stubs.close()


@pytest.fixture(scope="package")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("acr-idp")
    provider = Provider(folder, [rsa_jwk("a1")], AUDIENCE, ACCOUNTS, name="acr-idp").start()
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def acr_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, idp: Provider
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("acr-server")
    oidc = {
        "issuers": [{"name": "acr-idp", "issuer": idp.issuer, "audience": AUDIENCE}],
        "tenants": {
            "ville-a": {
                "issuer": "acr-idp",
                "roles_claim": "groups",
                "roles": {"aval-superviseurs": ["supervisor"]},
            }
        },
    }
    path = folder / "oidc.yaml"
    path.write_text(yaml.safe_dump(oidc), encoding="utf-8")
    env = {"AVAL_POLICY_DIR": str(write_policies(folder)), "AVAL_OIDC_FILE": str(path)}
    process = ServerProcess.start(database_url, folder, name="acr", extra_env=env)
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"
