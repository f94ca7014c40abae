"""What the operator's file cannot be made to do: reach an endpoint the tenant may not, sign with
no key, follow a receiver's redirect; and an outcome nobody accepts is given up (dead), logged."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aval.clients import Client
from tests.support import ServerProcess, serve_refused, token_of, write_egress

from ..helpers import propose_kwargs
from .conftest import WEBHOOK_ENV, Receiver, webhook_egress

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("url", "secret_env", "field", "fix"),
    [
        ("http://10.9.9.9:8080/hook", None, "url", "endpoints"),
        ("http://0x7f000001:8080/hook", None, "url", "endpoints"),
        ("http://127.0.0.1:8080/hook", "", "secret", "whsec_"),
    ],
)
def test_a_webhook_the_tenant_may_not_use_stops_the_start(
    new_database: Callable[..., str],
    tmp_path: Path,
    url: str,
    secret_env: str | None,
    field: str,
    fix: str,
) -> None:
    egress = write_egress(tmp_path / "egress", webhook_egress(url, "http://127.0.0.1:1/x"))
    settings = {**WEBHOOK_ENV, "AVAL_AI_EGRESS_FILE": str(egress)}
    if secret_env is not None:
        settings["AVAL_TEST_WEBHOOK_KEY_A"] = secret_env
    stderr = serve_refused(new_database(), tmp_path / "config", **settings)
    assert f"{egress}:" in stderr and f"tenants.ville-a.webhooks.app-a.{field}" in stderr
    assert fix in stderr and "fix:" in stderr, stderr


@pytest.fixture(scope="module")
def internal() -> Iterator[Receiver]:
    """A service nobody allowed as a webhook: a redirect must never bring an outcome here."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def redirecting(internal: Receiver) -> Iterator[Receiver]:
    server = Receiver()
    server.redirect_to = internal.url
    yield server
    server.close()


def test_a_redirect_is_never_followed_and_an_outcome_nobody_accepts_dies_logged(
    new_database: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
    redirecting: Receiver,
    internal: Receiver,
) -> None:
    database = new_database()
    folder = tmp_path_factory.mktemp("e2e-webhooks-dead")
    egress: dict[str, Any] = copy.deepcopy(webhook_egress(redirecting.url, "http://127.0.0.1:1/x"))
    egress["tenants"]["ville-a"]["endpoints"] = [
        {"network": "127.0.0.1/32", "ports": [int(redirecting.server_address[1])]}
    ]
    server = ServerProcess.start(
        database,
        folder,
        name="webhooks-dead",
        extra_env={
            "AVAL_AI_EGRESS_FILE": str(write_egress(folder / "egress", egress)),
            **WEBHOOK_ENV,
            "AVAL_WEBHOOK_MAX_ATTEMPTS": "2",
        },
    )
    try:
        with (
            Client(server.address, token_of("app-a")) as app,
            Client(server.address, token_of("sup-a1")) as sup,
        ):
            d = app.propose(**propose_kwargs("voirie.signalement")).decision
            sup.decide(d.id, verdict="approve")
        deadline = time.monotonic() + 20
        row: tuple[Any, ...] | None = None
        while time.monotonic() < deadline:
            with psycopg.connect(database, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT attempts, delivered_at, dead_at, last_error FROM aval.webhook_outbox"
                    " WHERE decision_id = %s",
                    (d.id,),
                ).fetchone()
            if row is not None and row[2] is not None:
                break
            time.sleep(0.05)
        assert row is not None and row[2] is not None, row
        assert (row[0], row[1], row[3]) == (2, None, "HTTP 307")
        assert len(redirecting.deliveries(d.id)) == 2
        assert internal.seen == []  # the redirect's target never heard of it
    finally:
        assert server.stop() == 0
    log = server.log_path.read_text()
    assert "webhook dead: outcome" in log and str(d.id) in log
