"""The console as the tests reach it: a real `aval serve` with its console on, and a browser
stand-in (httpx with a cookie jar) that signs in, follows pages and posts their forms with the
CSRF token the page carried. Browser tests (tests/browser) drive a real Chromium instead."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
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


class _PageShape(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.described: list[str] = []
        self.h1 = 0
        self.forms: list[dict[str, str | None]] = []
        self.csrf_in_form: list[bool] = []
        self.problems: list[str] = []
        self.invalid = False
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        element_id = found.get("id")
        if element_id:
            self.ids.append(element_id)
        if found.get("aria-describedby"):
            self.described += (found["aria-describedby"] or "").split()
        if found.get("aria-invalid") == "true":
            self.invalid = True
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}=…>: inline code or style")
        if tag == "h1":
            self.h1 += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "script" and not found.get("src"):
            self.problems.append("an inline <script>")
        elif tag == "form":
            self.forms.append(found)
            self.csrf_in_form.append(False)
        elif tag == "input" and found.get("name") == "csrf" and self.csrf_in_form:
            self.csrf_in_form[-1] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def assert_well_formed(page: httpx.Response, *, error_prefix: str = "Erreur\u00a0: ") -> None:
    """What every console page must be: one h1, no repeated id, every aria-describedby target
    present, every form with a method and an action (and the CSRF field when it posts), no
    inline script, handler or style, and a title starting with the error prefix when a field
    is marked invalid."""
    shape = _PageShape()
    shape.feed(page.text)
    assert shape.h1 == 1, f"{shape.h1} <h1> on the page"
    repeated = sorted({i for i in shape.ids if shape.ids.count(i) > 1})
    assert not repeated, f"repeated ids: {repeated}"
    missing = sorted(set(shape.described) - set(shape.ids))
    assert not missing, f"aria-describedby without a target: {missing}"
    for form, csrf in zip(shape.forms, shape.csrf_in_form, strict=True):
        assert form.get("method") and form.get("action"), f"a form without method/action: {form}"
        if form["method"] == "post":
            assert csrf, f"a posting form without its CSRF field: {form}"
    assert not shape.problems, shape.problems
    if shape.invalid:
        assert shape.title.startswith(error_prefix), shape.title
