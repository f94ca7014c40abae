"""The console behind the server's own TLS: HTTPS only, its cookies Secure and `__Host-`
prefixed (bound to this origin), HSTS, and sign-in and sign-out working over it."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from tests.console.support import console_env, console_url
from tests.e2e.security_tls.conftest import Pki, tls_env
from tests.support import ServerProcess, token_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console_over_tls(
    database_url: str, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console-tls")
    env = {**tls_env(pki, client_ca=False), **console_env(folder / "console")}
    process = ServerProcess.start(database_url, folder, name="console-tls", extra_env=env)
    try:
        url = console_url(process)
        assert url.startswith("https://")
        # The certificate names localhost.
        yield url.replace("127.0.0.1", "localhost")
    finally:
        assert process.stop() == 0, process.log_path.read_text()


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return unescape(found[1])


def test_the_console_over_tls_sets_secure_host_bound_cookies(
    console_over_tls: str, pki: Pki
) -> None:
    with httpx.Client(
        base_url=console_over_tls, verify=ssl.create_default_context(cafile=str(pki.ca.cert_file))
    ) as browser:
        page = browser.get("/connexion")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=")
        signed = browser.post(
            "/connexion/jeton",
            data={"csrf": _csrf(page), "jeton": token_of("sup-a1")},
            headers={"origin": console_over_tls},
        )
        cookies = [
            h for h in signed.headers.get_list("set-cookie") if h.startswith("__Host-aval-session=")
        ]
        assert cookies, signed.headers.get_list("set-cookie")
        assert all("Secure" in c and "HttpOnly" in c and "Path=/" in c for c in cookies)
        assert "Domain=" not in cookies[0]
        home = browser.get("/", follow_redirects=True)
        assert "sup-a1" in home.text
        out = browser.post(
            "/deconnexion", data={"csrf": _csrf(home)}, headers={"origin": console_over_tls}
        )
        assert out.status_code == 303 and out.headers["location"] == "/connexion?sortie=1"
        assert browser.get("/", follow_redirects=False).headers["location"].startswith("/connexion")
