"""The egress file: without it nothing is allowed, and a mistake in it stops the start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError
from tests.support import ServerProcess, serve_refused, token_of

from .conftest import a_name, refused

pytestmark = pytest.mark.e2e


# Secure by default, and a clear start-up refusal.


def test_without_an_egress_file_no_endpoint_and_no_secret_is_allowed(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = ServerProcess.start(
        new_database(),
        tmp_path_factory.mktemp("e2e-no-egress"),
        name="no-egress",
        extra_env={"AVAL_AI_EGRESS_FILE": ""},
    )
    try:
        with Client(server.address, token_of("admin-a"), language="en") as admin:
            for kind, endpoint, key in [
                ("openai", "http://127.0.0.1:11434/v1", ""),
                ("advisor", "127.0.0.1:50061", ""),
                ("openai", "https://albert.api.etalab.gouv.fr/v1", "ALBERT_API_KEY"),
            ]:
                error = refused(
                    InvalidArgumentError,
                    lambda kind=kind, endpoint=endpoint, key=key: admin.register_ai_system(
                        a_name(),
                        kind=kind,
                        endpoint=endpoint,
                        model="m",
                        api_key_env=key,
                        reason="essai",
                    ),
                )
                fields = {v.field for v in error.violations}
                assert fields == {"ai_system.endpoint"} | (
                    {"ai_system.api_key_env"} if key else set()
                )
                assert all("AVAL_AI_EGRESS_FILE" in v.text for v in error.violations)
            assert admin.list_ai_systems().ai_systems == []
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("tenants:\n  ville-z:\n    endpoints: []\n", ":2: tenants.ville-z"),
        (
            "tenants:\n  '*':\n    secrets:\n      k: AVAL_TEST_X\n",
            ":3: tenants.*.secrets",
        ),
        (
            "tenants:\n  ville-a:\n    secrets:\n      db: AVAL_DATABASE_URL\n",
            ":4: tenants.ville-a.secrets.db",
        ),
    ],
)
def test_a_mistake_in_the_egress_file_stops_the_start_with_the_line_and_the_fix(
    new_database: Callable[..., str], tmp_path: Path, text: str, where: str
) -> None:
    egress = tmp_path / "ai-egress.yaml"
    egress.write_text(text, encoding="utf-8")
    stderr = serve_refused(new_database(), tmp_path / "config", AVAL_AI_EGRESS_FILE=str(egress))
    assert f"{egress}{where}" in stderr, stderr
    assert "fix:" in stderr
