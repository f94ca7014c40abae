"""Signing in to the console in a real Chromium through a real OpenID provider: the person lands
signed in under the name the provider gives, pages pass axe-core, the CSP holds (no violation
reported by the browser), and signing out ends the session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import Person

pytestmark = pytest.mark.e2e


def test_a_supervisor_signs_in_through_the_provider_and_out(
    person: Callable[[str], Person],
) -> None:
    camille = person("camille")
    page = camille.page
    assert "Camille Martin" in page.inner_text("header")
    assert camille.axe() == []
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion?sortie=1")
    assert "Vous êtes déconnecté." in page.inner_text("main")
    assert camille.axe() == []
    page.goto(f"{camille.base}/")
    assert page.url.endswith("/connexion")
    assert camille.problems == []


def test_the_sign_in_page_reads_in_english_too(person: Callable[[str], Person]) -> None:
    dominique = person("dominique")
    page = dominique.page
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert "Sign out" in page.inner_text("header")
    assert page.get_attribute("html", "lang") == "en"
    assert dominique.axe() == []
    assert dominique.problems == []
