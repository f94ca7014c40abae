"""Browser tests of the console: Debian's Chromium driven by Playwright (never a downloaded
browser), people signing in through a real OpenID provider (tests/oidc), a real `aval serve`
with its console on, and axe-core checking every page visited.

Without chromium, node or the npm packages, the tests skip with the reason (and fail in CI,
where `make test-setup` installs them)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.oidc.provider import Provider, rsa_jwk
from tests.support import POLICIES, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("AVAL_SCREENSHOTS_DIR", ROOT / "build" / "screenshots"))
AUDIENCE = "urn:aval:gateway:browser-tests"
# Who signs in, and what the provider says of them.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "camille": {"tenant": "ville-a", "groups": ["aval-superviseurs"], "name": "Camille Martin"},
    "sacha": {"tenant": "ville-a", "groups": ["aval-superviseurs"], "name": "Sacha Bernard"},
    "dominique": {"tenant": "ville-a", "groups": ["aval-inspection"], "name": "Dominique Roux"},
}
CONSOLE_SECRET = "console-secret"
# ville-a's review policies in the browser tests: one type per review mode the tests show.
POLICY = """
tenant: ville-a
preset: cautious_trial
contact: "Mairie de Testville, dpo@testville.example"
decision_types:
  voirie.signalement:
    purpose: "orienter les signalements vers le service compétent"
    required_approvals: 1
    deadline: 3d
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete, eclairage, espaces_verts]}
        reference: {type: string, maxLength: 7}
      required: [service]
      additionalProperties: false
    input_fields:
      - name: nom
        label: {fr: "Nom de l'habitant", en: "Resident's name"}
      - name: description
        label: {fr: "Description du signalement", en: "Report description"}
  double.examen:
    purpose: "instruire les demandes sensibles à deux"
    required_approvals: 2
    justification_required_for: [amend, reject]
    deadline: 30d
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete, eclairage, espaces_verts]}
      required: [service]
      additionalProperties: false
  aides.attribution:
    purpose: "instruire les demandes d'aide facultative"
    required_approvals: 2
    justification_required_for: [amend, reject]
    deadline: 30d
    blind_second_review: true
    input_fields:
      - name: nom
        label: {fr: "Nom du demandeur", en: "Applicant's name"}
      - name: demande
        label: {fr: "Objet de la demande", en: "What is asked for"}
  stationnement.recours:
    purpose: "instruire les recours contre les forfaits post-stationnement"
    required_approvals: 1
    justification_required_for: [amend, reject]
    deadline: 30d
    decide_first: true
    output_schema:
      type: object
      properties:
        recours_fonde: {type: boolean}
      required: [recours_fonde]
      additionalProperties: false
"""


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests need {what} (make test-setup installs it)")
    pytest.skip(f"no browser test without {what}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        _need("Debian's chromium (apt-get install chromium)")
    if not AXE.is_file():
        _need("axe-core (npm ci in tests/browser)")
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="package")
def console_port() -> int:
    return _free_port()


@pytest.fixture(scope="package")
def provider(
    tmp_path_factory: pytest.TempPathFactory, console_port: int, chromium_path: str
) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("browser-idp")
    idp = Provider(
        folder,
        [rsa_jwk("b1")],
        AUDIENCE,
        ACCOUNTS,
        name="browser-idp",
        redirect_uris=[f"http://127.0.0.1:{console_port}/connexion/retour"],
    ).start()
    yield idp
    idp.stop()


@pytest.fixture(scope="package")
def console_server(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    provider: Provider,
    console_port: int,
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("browser-server")
    oidc = {
        "issuers": [
            {
                "name": "ville-a-idp",
                "issuer": provider.issuer,
                "audience": AUDIENCE,
                "display_name_claim": "name",
            }
        ],
        "tenants": {
            "ville-a": {
                "issuer": "ville-a-idp",
                "when": {"claim": "tenant", "equals": "ville-a"},
                "roles_claim": "groups",
                "roles": {
                    "aval-superviseurs": ["supervisor"],
                    "aval-inspection": ["inspector"],
                },
            }
        },
    }
    (folder / "oidc.yaml").write_text(yaml.safe_dump(oidc), encoding="utf-8")
    console = {
        "authority": {
            "name": "Commune de Testville",
            "kind": "commune",
            "colors": {"primary": "#1f4e79", "on_primary": "#ffffff"},
        },
        "sign_in": [
            {
                "issuer": "ville-a-idp",
                "label": "Agents de Testville",
                "client_id": "console",
                "client_secret_env": "AVAL_TEST_CONSOLE_SECRET",
            }
        ],
    }
    (folder / "console.yaml").write_text(yaml.safe_dump(console), encoding="utf-8")
    policies = folder / "browser-policies"
    policies.mkdir()
    (policies / "ville-a.yaml").write_text(POLICY, encoding="utf-8")
    (policies / "ville-b.yaml").write_text(POLICIES["ville-b"], encoding="utf-8")
    process = ServerProcess.start(
        database_url,
        folder,
        name="browser-server",
        extra_env={
            "AVAL_OIDC_FILE": str(folder / "oidc.yaml"),
            "AVAL_CONSOLE_FILE": str(folder / "console.yaml"),
            "AVAL_CONSOLE_LISTEN": f"127.0.0.1:{console_port}",
            "AVAL_TEST_CONSOLE_SECRET": CONSOLE_SECRET,
            "AVAL_POLICY_DIR": str(policies),
        },
    )
    try:
        yield Served(f"http://127.0.0.1:{console_port}", process.address)
    finally:
        assert process.stop() == 0, process.log_path.read_text()


@dataclass(frozen=True)
class Served:
    """The browser tests' server: its console's URL and its gRPC address (for applications)."""

    console: str
    address: str


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    # Package-scoped: Playwright's synchronous API holds an event loop in this thread while it
    # runs, and the tests after this package (asyncio ones) need the thread back.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, headless=True)
        yield launched
        launched.close()


class Person:
    """One person's browser window: their own context (cookies), the pages they open, and
    what the page reported (CSP violations, script errors)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
        # Nothing leaves the machine, ever: the provider's dev pages import outside fonts.
        self.context.route("**/*", self._local_only)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    @staticmethod
    def _local_only(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:")):
            route.continue_()
        else:
            route.abort()

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or (message.type == "error" and self._ours(message)):
            self.problems.append(f"{message.type}: {text}")

    def _ours(self, message: Any) -> bool:
        location = message.location or {}
        return str(location.get("url", "")).startswith(self.base)

    def sign_in(self, login: str) -> None:
        """Signs in through the OpenID provider as `login` (its dev login page)."""
        page = self.page
        page.goto(f"{self.base}/connexion")
        page.get_by_role("link", name="Se connecter : Agents de Testville").click()
        page.fill('input[name="login"]', login)
        page.fill('input[name="password"]', "x")
        page.click('button[type="submit"]')
        page.wait_for_url(f"{self.base}/**")

    def axe(self) -> list[dict[str, Any]]:
        """The serious and critical WCAG 2.1 A/AA violations axe-core finds on the page.

        The engine is evaluated through the DevTools protocol, which the page's CSP does not
        govern, so the console's CSP stays as strict in the test as in production."""
        page = self.page
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate(
            """async () => (await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"""
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(browser: Any, console_server: Served) -> Iterator[Callable[[str], Person]]:
    """person("camille"): a fresh browser window signed in as that account."""
    opened: list[Person] = []

    def open_as(login: str) -> Person:
        someone = Person(browser, console_server.console)
        opened.append(someone)
        someone.sign_in(login)
        return someone

    yield open_as
    for someone in opened:
        someone.close()
