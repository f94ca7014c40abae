"""The console as the tests reach it: a real `aval serve` with its console on, and a browser
stand-in (httpx with a cookie jar) that signs in, follows pages and posts their forms with the
CSRF token the page carried. Browser tests (tests/browser) drive a real Chromium instead."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import httpx

from tests.support import ServerProcess, token_of

CONSOLE_FILE = """\
authority:
  name: Commune de Testville
  kind: commune
  colors: {primary: "#1f4e79"}
token_sign_in: true
"""
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_env(folder: Path, text: str = CONSOLE_FILE) -> dict[str, str]:
    """What a test server needs for its console: an address and a console file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "console.yaml"
    path.write_text(text, encoding="utf-8")
    return {"AVAL_CONSOLE_LISTEN": "127.0.0.1:0", "AVAL_CONSOLE_FILE": str(path)}


def console_url(process: ServerProcess) -> str:
    """Reads the console's URL from the server's exports (AVAL_CONSOLE_URL, the last line)."""
    while True:
        exports = process.read_exports(1)
        if "AVAL_CONSOLE_URL" in exports:
            return exports["AVAL_CONSOLE_URL"].rstrip("/")
        if not exports or "" in exports:
            raise AssertionError("the server printed no AVAL_CONSOLE_URL")


@dataclass
class Visitor:
    """One person's browser, without JavaScript: cookies, the last page, its CSRF token."""

    base: str
    http: httpx.Client = field(init=False)
    page: httpx.Response | None = None

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base, follow_redirects=True, timeout=30)

    def close(self) -> None:
        self.http.close()

    @property
    def csrf(self) -> str:
        assert self.page is not None, "open a page first"
        found = _CSRF.search(self.page.text)
        assert found, "the page holds no form"
        return unescape(found[1])

    def get(self, path: str) -> httpx.Response:
        self.page = self.http.get(path)
        return self.page

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """Posts a form as the page would: with its CSRF token and the console's origin."""
        form = {"csrf": self.csrf, **(data or {})}
        self.page = self.http.post(path, data=form, headers={"origin": self.base})
        return self.page

    def sign_in(self, principal: str) -> httpx.Response:
        """Signs in with the principal's token (tests.support principals)."""
        self.get("/connexion")
        return self.post("/connexion/jeton", {"jeton": token_of(principal)})
