"""The `webhooks:` section of the AI egress file: only the operator says where an application's
outcomes go; a URL the tenant may not reach, a secret it does not declare or that holds no
usable key, or an id that is not one of its applications stops the start with line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from aval.policies import PolicyError
from aval.service.ai.egress_file import load_egress_file
from aval.service.identity import Principal

TENANTS = {"ville-a", "ville-b"}
PRINCIPALS = [
    Principal("app-a", "ville-a", {"ville-a": frozenset({"application"})}),
    Principal("sup-a", "ville-a", {"ville-a": frozenset({"supervisor"})}),
    Principal("app-b", "ville-b", {"ville-b": frozenset({"application"})}),
]
HEAD = (
    "tenants:\n"
    "  ville-a:\n"
    "    secrets: {hook: AVAL_TEST_HOOK_KEY, other: AVAL_TEST_UNSET_KEY}\n"
    "    endpoints:\n"
    "      - {host: app.ville-a.example, ports: [443]}\n"
    "      - {network: 10.1.0.0/16, ports: [8080]}\n"
    "    webhooks:\n"
)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVAL_TEST_HOOK_KEY", "k" * 32)
    monkeypatch.delenv("AVAL_TEST_UNSET_KEY", raising=False)


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "ai-egress.yaml"
    path.write_text(text, encoding="utf-8")
    return load_egress_file(path, TENANTS, PRINCIPALS)


@pytest.mark.parametrize(
    ("hook", "field", "fix"),
    [
        ("app-a: {url: 'https://evil.example/x', secret: hook}", "app-a.url", "endpoints"),
        ("app-a: {url: 'https://app.ville-a.example:8443/x', secret: hook}", "app-a.url", "port"),
        ("app-a: {url: 'http://10.1.2.3:80/x', secret: hook}", "app-a.url", "endpoints"),
        ("app-a: {url: 'http://2130706433:8080/x', secret: hook}", "app-a.url", "endpoints"),
        ("app-a: {url: 'http://0x0a010203:8080/x', secret: hook}", "app-a.url", "endpoints"),
        ("app-a: {url: 'https://u:p@app.ville-a.example/x', secret: hook}", "app-a.url", "secret"),
        ("app-a: {url: 'ftp://app.ville-a.example/x', secret: hook}", "app-a.url", "https://"),
        ("app-a: {url: 'https://app.ville-a.example/x', secret: nope}", "app-a.secret", "declare"),
        ("app-a: {url: 'https://app.ville-a.example/x', secret: other}", "app-a.secret", "whsec_"),
        ("sup-a: {url: 'https://app.ville-a.example/x', secret: hook}", "sup-a.url", "principal"),
        ("app-b: {url: 'https://app.ville-a.example/x', secret: hook}", "app-b.url", "principal"),
        (
            "app-a: {url: 'https://app.ville-a.example/x', secret: hook, lang: fr}",
            "app-a.lang",
            "spelling",
        ),
    ],
)
def test_a_webhook_the_tenant_may_not_use_stops_the_start_with_the_line_and_the_fix(
    tmp_path: Path, hook: str, field: str, fix: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, HEAD + f"      {hook}\n")
    error = caught.value
    assert error.field == f"tenants.ville-a.webhooks.{field}", error
    assert error.line == 8, error
    assert fix in error.fix, error


def test_a_short_key_is_refused_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAL_TEST_HOOK_KEY", "short")
    with pytest.raises(PolicyError) as caught:
        _load(
            tmp_path, HEAD + "      app-a: {url: 'https://app.ville-a.example/x', secret: hook}\n"
        )
    assert caught.value.field == "tenants.ville-a.webhooks.app-a.secret"


def test_webhooks_are_never_shared_by_every_tenant(tmp_path: Path) -> None:
    text = (
        "tenants:\n  '*':\n    endpoints: [{network: 10.1.0.0/16}]\n    webhooks:\n"
        "      app-a: {url: 'http://10.1.2.3/x', secret: hook}\n"
    )
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, text)
    assert "one tenant" in caught.value.message


def test_a_good_webhook_is_found_by_tenant_and_application_only(tmp_path: Path) -> None:
    egress = _load(
        tmp_path,
        HEAD
        + "      app-a: {url: 'https://app.ville-a.example/aval', secret: hook, language: en}\n",
    )
    from aval.service.ai.egress import EgressPolicy

    assert isinstance(egress, EgressPolicy)
    target = egress.webhook("ville-a", "app-a")
    assert target is not None and target.url == "https://app.ville-a.example/aval"
    assert target.language == "en"
    assert egress.webhook("ville-b", "app-a") is None
    assert egress.webhook("ville-a", "sup-a") is None
