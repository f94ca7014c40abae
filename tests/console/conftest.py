"""One real server with its console on, shared by the console's HTTP tests, on a database of
its own (the queue's counts are the tenant's) and with ville-a's decision types for the
supervisors' pages (a rich output schema, labelled input fields, each review mode)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aval.clients import Client
from tests.console.support import Visitor, console_env, console_url
from tests.support import POLICIES, ServerProcess, clients_of

CONSOLE_TYPES = """
  console.montant:
    purpose: "tester le formulaire de modification"
    required_approvals: 1
    justification_required_for: [reject]
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete], title: "Service compétent"}
        montant: {type: integer, minimum: 0, title: "Montant (centimes)"}
        urgent: {type: boolean, title: "Urgent"}
        motif: {type: string}
        etiquettes: {type: array, items: {type: string}}
      required: [service, montant]
      additionalProperties: false
    input_fields:
      - name: nom
        label: {fr: "Nom du demandeur", en: "Applicant's name"}
      - name: adresse
        label: {fr: "Adresse", en: "Address"}
  console.urgent:
    purpose: "tester les échéances proches"
    required_approvals: 1
    deadline: 12h
  console.avis:
    purpose: "tester l'avis d'abord"
    required_approvals: 1
    decide_first: true
  console.aveugle:
    purpose: "tester le double examen à l'aveugle"
    required_approvals: 2
    blind_second_review: true
"""


def write_policies(folder: Path) -> Path:
    policies = folder / "console-policies"
    policies.mkdir(parents=True, exist_ok=True)
    for tenant, text in POLICIES.items():
        extra = CONSOLE_TYPES if tenant == "ville-a" else ""
        (policies / f"{tenant}.yaml").write_text(text.rstrip("\n") + extra, encoding="utf-8")
    return policies


@pytest.fixture(scope="package")
def console_database(new_database: Callable[..., str]) -> str:
    """The console server's own database (tests that tamper with it as a superuser)."""
    return new_database()


@pytest.fixture(scope="package")
def console_server(
    console_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    folder = tmp_path_factory.mktemp("console")
    env = {**console_env(folder / "console"), "AVAL_POLICY_DIR": str(write_policies(folder))}
    process = ServerProcess.start(console_database, folder, name="console", extra_env=env)
    try:
        yield process, console_url(process)
    finally:
        assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture(scope="package")
def gateway(console_server: tuple[ServerProcess, str]) -> Iterator[Callable[[str], Client]]:
    """gateway("app-a"): an SDK client of the console's server as that principal."""
    yield from clients_of(console_server[0])


@pytest.fixture
def visitor(console_server: tuple[ServerProcess, str]) -> Iterator[Callable[[str], Visitor]]:
    """visitor("sup-a1"): a signed-in browser stand-in for that principal (closed after)."""
    opened: list[Visitor] = []

    def make(principal: str | None = None) -> Visitor:
        v = Visitor(console_server[1])
        opened.append(v)
        if principal is not None:
            v.sign_in(principal)
        return v

    yield make
    for v in opened:
        v.close()
