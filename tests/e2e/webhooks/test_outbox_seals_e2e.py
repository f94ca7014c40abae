"""An application never receives an outcome a database superuser edited (issue 12, item 1).

Each outbox row is sealed at enqueue (the bytes to POST, with the key derived from the signing
key); the worker checks the seal before it signs and sends: an edited row is settled dead
(PAYLOAD_NOT_SEALED), never sent, and online verification names it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aval.clients import Client
from aval.clients.sdk.webhooks import verify_webhook
from tests.support import ServerProcess, token_of, write_egress

from ..helpers import propose_kwargs
from .conftest import SECRET, WEBHOOK_ENV, Receiver, webhook_egress

pytestmark = pytest.mark.e2e


def _row(url: str, decision_id: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(
            "SELECT attempts, delivered_at, dead_at, last_error, body, seal"
            " FROM aval.webhook_outbox WHERE decision_id = %s",
            (decision_id,),
        )
        names = [c.name for c in cur.description or ()]
        [row] = cur.fetchall()
        return dict(zip(names, row, strict=True))


def _wait_row(
    url: str, decision_id: str, done: Callable[[dict[str, Any]], bool], seconds: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = _row(url, decision_id)
        if done(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"outbox row of {decision_id}: {row}")


def _forge(url: str, decision_id: str, *, body_too: bool) -> None:
    """As a superuser, triggers off: the rejection becomes an approval with another outcome
    (and, with `body_too`, the stored bytes say the same, the seal kept)."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        (payload,) = conn.execute(  # type: ignore[misc]
            "SELECT payload FROM aval.webhook_outbox WHERE decision_id = %s FOR UPDATE",
            (decision_id,),
        ).fetchone()
        payload["data"]["state"] = "APPROVED"
        payload["data"]["outcome"] = {"montant": 99999, "accord": True}
        payload["data"]["validated_by"], payload["data"]["rejected_by"] = ["sup-a1"], []
        raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        conn.execute(
            "UPDATE aval.webhook_outbox SET payload = %s::jsonb"
            + (", body = convert_to(%s, 'UTF8')" if body_too else "")
            + " WHERE decision_id = %s",
            (raw, raw, decision_id) if body_too else (raw, decision_id),
        )


def _start(
    url: str, folder: Path, receiver: Receiver, name: str, *, signing_key: bool
) -> ServerProcess:
    other = Receiver(listening=False)  # ville-b's hook: unused here
    other.close()
    egress = write_egress(folder / "egress", webhook_egress(receiver.url, other.url))
    return ServerProcess.start(
        url,
        folder,
        name=name,
        # Retried for as long as the test runs: a row dies only for its seal.
        extra_env={
            "AVAL_AI_EGRESS_FILE": str(egress),
            **WEBHOOK_ENV,
            "AVAL_WEBHOOK_MAX_ATTEMPTS": "1000",
        },
        signing_key=signing_key,
    )


@pytest.fixture
def down() -> Iterator[Receiver]:
    receiver = Receiver(listening=False)
    yield receiver
    receiver.close()


def test_an_edited_outcome_is_never_sent_and_verification_names_it(
    new_database: Callable[..., str], tmp_path: Path, down: Receiver
) -> None:
    url = new_database()
    server = _start(url, tmp_path / "config", down, "sealed", signing_key=True)
    try:
        with (
            Client(server.address, token_of("app-a"), timeout=30) as app,
            Client(server.address, token_of("sup-a1"), timeout=30) as sup,
            Client(server.address, token_of("insp-a"), timeout=30) as inspector,
        ):
            ids = []
            for _ in range(3):
                d = app.propose(**propose_kwargs("voirie.signalement")).decision
                sup.decide(d.id, verdict="reject", justification="hors compétence communale")
                ids.append(d.id)
            edited, rewritten, untouched = ids
            for d_id in ids:  # the receiver is down: each is pending, retried
                _wait_row(url, d_id, lambda r: r["last_error"] == "CONNECT_FAILED")
                row = _row(url, d_id)
                assert row["seal"] is not None and len(row["seal"]) == 32
            _forge(url, edited, body_too=False)
            _forge(url, rewritten, body_too=True)
            down.open()  # the receiver comes back
            [(headers, body)] = down.wait_for(untouched)
            assert verify_webhook(SECRET, headers, body)["data"]["state"] == "REJECTED"
            assert _wait_row(url, untouched, lambda r: r["delivered_at"] is not None)
            for d_id in (edited, rewritten):
                row = _wait_row(url, d_id, lambda r: bool(r["dead_at"] or r["delivered_at"]))
                sent = [json.loads(b)["data"] for _, b in down.deliveries(d_id)]
                assert all(s["state"] == "REJECTED" for s in sent), sent  # never the forgery
                assert row["last_error"] == "PAYLOAD_NOT_SEALED" and row["delivered_at"] is None
            time.sleep(1.0)  # any further attempt would have been made by now
            assert all(_row(url, d_id)["delivered_at"] is None for d_id in (edited, rewritten))
            problems = inspector.verify_chain().problems
            named = sorted(p.decision_id for p in problems if p.kind == "webhook_payload_mismatch")
            assert named == sorted([edited, rewritten]), problems
            assert [p.kind for p in problems if p.kind != "webhook_payload_mismatch"] == []
    finally:
        assert server.stop() == 0, server.log_path.read_text()
    log = server.log_path.read_text()
    assert "NOT sent" in log and "aval audit verify" in log and "ville-a" in log


def test_without_a_key_outcomes_are_delivered_unsealed_as_before(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    url = new_database()
    receiver = Receiver()
    server = _start(url, tmp_path / "config", receiver, "keyless", signing_key=False)
    try:
        with (
            Client(server.address, token_of("app-a"), timeout=30) as app,
            Client(server.address, token_of("sup-a1"), timeout=30) as sup,
        ):
            d = app.propose(**propose_kwargs("voirie.signalement")).decision
            sup.decide(d.id, verdict="approve")
            [(headers, body)] = receiver.wait_for(d.id)
            assert verify_webhook(SECRET, headers, body)["data"]["state"] == "APPROVED"
            row = _wait_row(url, d.id, lambda r: r["delivered_at"] is not None)
            assert row["seal"] is None and row["body"] is None
    finally:
        assert server.stop() == 0, server.log_path.read_text()
        receiver.close()


def test_outcomes_pending_at_the_upgrade_are_adopted_once(
    new_database: Callable[..., str], tmp_path: Path, down: Receiver
) -> None:
    """A row enqueued without a seal (before migration 0026, or without a key) and still to
    deliver is sealed on the first start with a key, and delivered; a seal removed later in the
    database is never adopted: that row is refused."""
    url = new_database()
    config = tmp_path / "config"
    keyless = _start(url, config, down, "keyless", signing_key=False)
    try:
        with (
            Client(keyless.address, token_of("app-a"), timeout=30) as app,
            Client(keyless.address, token_of("sup-a1"), timeout=30) as sup,
        ):
            old = app.propose(**propose_kwargs("voirie.signalement")).decision.id
            sup.decide(old, verdict="approve")
            row = _wait_row(url, old, lambda r: r["last_error"] == "CONNECT_FAILED")
            assert row["seal"] is None
    finally:
        assert keyless.stop() == 0, keyless.log_path.read_text()
    keyed = _start(url, config, down, "keyed", signing_key=True)
    try:
        with (
            Client(keyed.address, token_of("app-a"), timeout=30) as app,
            Client(keyed.address, token_of("sup-a1"), timeout=30) as sup,
            Client(keyed.address, token_of("insp-a"), timeout=30) as inspector,
        ):
            assert _row(url, old)["seal"] is not None  # adopted before serving
            new = app.propose(**propose_kwargs("voirie.signalement")).decision.id
            sup.decide(new, verdict="approve")
            _wait_row(url, new, lambda r: r["last_error"] == "CONNECT_FAILED")
            with psycopg.connect(url) as conn:
                conn.execute("SET session_replication_role = replica")
                conn.execute(
                    "UPDATE aval.webhook_outbox SET body = NULL, seal = NULL"
                    " WHERE decision_id = %s",
                    (new,),
                )
            row = _wait_row(url, new, lambda r: r["dead_at"] is not None)
            assert row["last_error"] == "PAYLOAD_NOT_SEALED"
            down.open()
            down.wait_for(old)
            assert _wait_row(url, old, lambda r: r["delivered_at"] is not None)
            assert down.deliveries(new) == []
            problems = inspector.verify_chain().problems
            assert [p.decision_id for p in problems if p.kind == "webhook_payload_mismatch"] == [
                new
            ]
    finally:
        assert keyed.stop() == 0, keyed.log_path.read_text()
    assert "adopting 1 webhook outcomes of tenant ville-a" in keyed.log_path.read_text()
