"""The console's frame through a real server: sign-in and sign-out, sessions ended on the
server, CSRF on every form, the security headers, text made visible, the authority's identity
checked at start-up."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest

from aval.console.branding import contrast
from tests.console.support import Visitor, console_env
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


def test_signing_in_with_a_token_opens_a_session_named_by_the_gateway(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor("sup-a1")
    assert v.page is not None and v.page.status_code == 200
    assert "sup-a1" in v.page.text
    assert "superviseur" in v.page.text


def test_a_token_nobody_holds_is_refused_with_the_gateways_reason(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor()
    v.get("/connexion")
    page = v.post("/connexion/jeton", {"jeton": "not-a-token-of-anyone"})
    assert page.status_code == 401
    assert "La passerelle n'accepte pas cette identité" in unescape(page.text)
    assert v.http.cookies.get("aval-session") is None


def test_sign_out_ends_the_session_on_the_server(visitor: Callable[..., Visitor]) -> None:
    v = visitor("insp-a")
    cookie = v.http.cookies.get("aval-session")
    assert cookie
    v.post("/deconnexion")
    # The old cookie, replayed by someone who kept it, opens nothing.
    again = Visitor(v.base)
    again.http.cookies.set("aval-session", cookie)
    page = again.get("/")
    assert page.url.path == "/connexion"
    again.close()


@pytest.mark.parametrize("offered", [None, "", "forged-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(
    visitor: Callable[..., Visitor], offered: str | None
) -> None:
    v = visitor("sup-a1")
    data = {} if offered is None else {"csrf": offered}
    page = v.http.post("/deconnexion", data=data, headers={"origin": v.base})
    assert page.status_code == 403
    assert v.get("/").url.path != "/connexion"  # still signed in: nothing happened


def test_a_post_from_another_origin_is_refused_even_with_the_token(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor("sup-a1")
    v.get("/")
    page = v.http.post(
        "/deconnexion", data={"csrf": v.csrf}, headers={"origin": "http://evil.example"}
    )
    assert page.status_code == 403


def test_every_page_carries_a_strict_content_security_policy(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor()
    page = v.get("/connexion")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in page.text and "onclick" not in page.text.lower()
    assert "style=" not in page.text


def test_cookies_are_httponly_and_samesite(visitor: Callable[..., Visitor]) -> None:
    v = visitor()
    v.get("/connexion")
    page = v.http.post(
        "/connexion/jeton",
        data={"csrf": v.csrf, "jeton": "x"},
        headers={"origin": v.base},
        follow_redirects=False,
    )
    for header in page.headers.get_list("set-cookie") + v.page.headers.get_list("set-cookie"):  # type: ignore[union-attr]
        assert "HttpOnly" in header and "SameSite=lax" in header


def test_a_local_return_path_only_is_followed_after_switching_language(
    visitor: Callable[..., Visitor],
) -> None:
    v = visitor("sup-a1")
    v.get("/")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = v.http.post(
            "/langue",
            data={"csrf": v.csrf, "langue": "en", "retour": target},
            headers={"origin": v.base},
            follow_redirects=False,
        )
        assert page.headers["location"] == "/"
    assert "Sign out" in v.get("/").text


def test_the_demo_colours_read_at_aa() -> None:
    assert contrast("#ffffff", "#1f4e79") >= 4.5


def test_a_console_file_with_unreadable_colours_stops_the_start(
    database_url: str, tmp_path: Path
) -> None:
    text = "authority:\n  name: Ville pâle\n  colors: {primary: '#9ec5fe'}\n"
    with pytest.raises(RuntimeError) as stopped:
        ServerProcess.start(
            database_url, tmp_path, extra_env=console_env(tmp_path / "console", text)
        )
    assert "contrast" in str(stopped.value) and "4.5:1" in str(stopped.value)
