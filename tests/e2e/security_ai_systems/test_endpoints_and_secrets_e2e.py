"""Tenant administrators reach only the endpoints and name only the secrets the operator allowed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError

from .conftest import (
    SECRET_A,
    SECRET_B,
    Recorder,
    a_name,
    everything_said,
    refused,
    refused_endpoints,
)

pytestmark = pytest.mark.e2e


def test_endpoints_outside_the_operators_allow_list_are_refused_whatever_their_spelling_I5(
    as_: Callable[..., Client], http: Recorder, advisor: int
) -> None:
    admin = as_("admin-a")
    registered = len(admin.list_ai_systems().ai_systems)
    for kind, endpoint in refused_endpoints(http.port, advisor):
        error = refused(
            InvalidArgumentError,
            lambda kind=kind, endpoint=endpoint: admin.register_ai_system(
                a_name(), kind=kind, endpoint=endpoint, model="m", reason="essai"
            ),
        )
        assert [v.field for v in error.violations] == ["ai_system.endpoint"], (endpoint, error)
    assert len(admin.list_ai_systems().ai_systems) == registered  # nothing written
    # What the operator allowed is accepted: by network and port, or by name.
    for kind, endpoint in [
        ("openai", http.url("ok")),
        ("openai", f"http://127.0.0.2:{http.port}/v1"),
        ("openai", f"http://localhost:{http.port}/v1"),
        ("openai", f"http://LOCALHOST.:{http.port}/v1"),
        ("advisor", f"127.0.0.1:{advisor}"),
    ]:
        reply = admin.register_ai_system(
            a_name(),
            kind=kind,
            endpoint=endpoint,
            model="m",
            reason="essai",  # type: ignore[arg-type]
        )
        assert reply.created, endpoint


def test_a_refused_endpoint_says_how_to_have_it_allowed_I6(
    as_: Callable[..., Client], internal: Recorder
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("admin-a", "en").register_ai_system(
            a_name(), kind="openai", endpoint=internal.url("x"), model="m", reason="essai"
        ),
    )
    [violation] = error.violations
    assert violation.field == "ai_system.endpoint"
    assert "AVAL_AI_EGRESS_FILE" in violation.text and "operator" in violation.text
    french = refused(
        InvalidArgumentError,
        lambda: as_("admin-a").register_ai_system(
            a_name(), kind="openai", endpoint=internal.url("x"), model="m", reason="essai"
        ),
    )
    assert "exploitant" in french.violations[0].text


# Item 1: secrets.

FOREIGN_NAMES = [
    "albert-a",  # ville-a's secret
    "AVAL_TEST_SECRET_VILLE_A",  # the variable behind it
    "AVAL_TEST_SECRET_VILLE_B",  # the variable behind ville-b's own secret
    "AVAL_DATABASE_URL",
    "AVAL_SIGNING_KEY_FILE",
    "PATH",
    "HOME",
    "MISTRAL-B",
    "mistral-b/../albert-a",
    SECRET_A,  # a key pasted by mistake
]


@pytest.mark.parametrize("name", FOREIGN_NAMES)
def test_a_tenant_admin_names_only_a_secret_the_operator_declared_for_their_tenant_I5(
    as_: Callable[..., Client], http: Recorder, name: str
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("admin-b").register_ai_system(
            a_name(),
            kind="openai",
            endpoint=http.url("ok"),
            model="m",
            api_key_env=name,
            reason="essai",
        ),
    )
    assert [v.field for v in error.violations] == ["ai_system.api_key_env"]
    said = everything_said(error)
    assert "mistral-b" in said  # the names it may use
    for never in ("albert-a", "AVAL_TEST_SECRET", SECRET_A, SECRET_B, "AVAL_DATABASE_URL"):
        assert never not in said, never


def test_each_tenant_uses_its_own_declared_secrets(
    as_: Callable[..., Client], http: Recorder
) -> None:
    reply = as_("admin-b").register_ai_system(
        a_name(),
        kind="openai",
        endpoint=http.url("ok"),
        model="m",
        api_key_env="mistral-b",
        reason="essai",
    )
    assert reply.created and reply.ai_system.api_key_env == "mistral-b"
    reply = as_("admin-a").register_ai_system(
        a_name(),
        kind="openai",
        endpoint=http.url("ok"),
        model="m",
        api_key_env="albert-a",
        reason="essai",
    )
    assert reply.created and reply.ai_system.api_key_env == "albert-a"
