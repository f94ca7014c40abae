"""Outcome webhooks end to end: signed, once, later when the receiver was down, on expiry too,
and never for an application the operator gave no webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from aval.clients import Client
from aval.clients.sdk.webhooks import WebhookRefused, verify_webhook
from aval.v1 import common_pb2

from ..helpers import propose_kwargs
from .conftest import KEY, KEY_B, SECRET, Receiver, final_event_id

pytestmark = pytest.mark.e2e

Outbox = Callable[[str], list[dict[str, Any]]]


def _settled(outbox: Outbox, decision_id: str, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = outbox(decision_id)
        if rows and (rows[0]["delivered_at"] or rows[0]["dead_at"]):
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"not settled: {outbox(decision_id)}")


def test_an_approval_reaches_the_application_once_signed_with_its_key(
    as_: Callable[[str], Client], receiver: Receiver, outbox: Outbox, hooks_db: str
) -> None:
    d = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="approve")
    [(headers, body)] = receiver.wait_for(d.id)
    # The SDK's helper and a plain HMAC recomputation (what a PHP receiver does) agree.
    payload = verify_webhook(SECRET, headers, body)
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], f"v1,{expected}")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    # Idempotency key = the id of the event that made the decision final, in the trail.
    event_id = final_event_id(hooks_db, d.id, "decision.finalized")
    assert headers["webhook-id"] == payload["data"]["event_id"] == event_id
    data = payload["data"]
    assert payload["type"] == "decision.finalized"
    assert (data["decision_id"], data["tenant"], data["state"]) == (d.id, "ville-a", "APPROVED")
    assert data["validated_by"] == ["sup-a1"] and data["rejected_by"] == []
    assert data["outcome"] == json.loads(json.dumps(propose_kwargs()["suggestion"]))
    notice = as_("app-a").get_decision(d.id).notice
    assert data["notice"] == {"language": notice.language, "text": notice.text}
    assert "input" not in data and "suggestion" not in data
    # Exactly once: after the 2xx nothing more is sent, and the row says delivered.
    row = _settled(outbox, d.id)
    assert row["delivered_at"] is not None and row["attempts"] == 1 and row["last_error"] == ""
    time.sleep(1.0)  # ten polls of the worker
    assert len(receiver.deliveries(d.id)) == 1


def test_a_wrong_key_a_changed_body_or_a_replay_fails_verification(
    as_: Callable[[str], Client], receiver: Receiver
) -> None:
    d = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="reject", justification="hors compétence")
    [(headers, body)] = receiver.wait_for(d.id)
    assert verify_webhook(SECRET, headers, body)["data"]["state"] == "REJECTED"
    with pytest.raises(WebhookRefused):
        verify_webhook("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), headers, body)
    with pytest.raises(WebhookRefused):
        verify_webhook(KEY_B, headers, body)  # another application's key
    with pytest.raises(WebhookRefused):
        verify_webhook(SECRET, headers, body.replace(b"REJECTED", b"APPROVED"))
    with pytest.raises(WebhookRefused):
        verify_webhook(SECRET, headers, body, now=time.time() + 3600)


def test_a_receiver_answering_503_gets_the_outcome_later_once(
    as_: Callable[[str], Client], receiver: Receiver, outbox: Outbox
) -> None:
    receiver.failures = 2
    d = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="approve")
    row = _settled(outbox, d.id)
    assert row["delivered_at"] is not None and row["attempts"] == 3, row
    time.sleep(1.0)
    seen = receiver.deliveries(d.id)
    assert len(seen) == 3  # two refused, one accepted, none after it
    assert len({h["webhook-id"] for h, _ in seen}) == 1  # the same idempotency key each time
    for headers, body in seen:
        verify_webhook(SECRET, headers, body)


def test_a_receiver_that_is_down_gets_the_outcome_once_it_is_up(
    as_: Callable[[str], Client], receiver_down: Receiver, outbox: Outbox
) -> None:
    d = as_("app-b").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-b").decide(d.id, verdict="reject", justification="hors compétence communale")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        [row] = outbox(d.id)
        if row["attempts"] >= 2:
            break
        time.sleep(0.05)
    assert row["last_error"] == "CONNECT_FAILED" and row["delivered_at"] is None, row
    receiver_down.open()
    [(headers, body)] = receiver_down.wait_for(d.id)
    payload = verify_webhook(KEY_B, headers, body)
    assert payload["data"]["state"] == "REJECTED" and payload["data"]["rejected_by"] == ["sup-b"]
    assert payload["data"]["notice"]["language"] == "en"  # as the operator chose for app-b
    assert _settled(outbox, d.id)["delivered_at"] is not None
    time.sleep(1.0)
    assert len(receiver_down.deliveries(d.id)) == 1


def test_an_expiry_is_also_sent(
    as_: Callable[[str], Client], receiver: Receiver, hooks_db: str
) -> None:
    d = as_("app-a").propose(**propose_kwargs("express.test")).decision  # a 2 s deadline
    [(headers, body)] = receiver.wait_for(d.id, seconds=30)
    payload = verify_webhook(SECRET, headers, body)
    assert payload["type"] == "decision.expired"
    assert payload["data"]["state"] == "EXPIRED" and payload["data"]["outcome"] is None
    assert payload["data"]["notice"] is None and payload["data"]["validated_by"] == []
    assert headers["webhook-id"] == final_event_id(hooks_db, d.id, "decision.expired")


def test_nothing_is_enqueued_for_an_application_without_a_webhook(
    as_: Callable[[str], Client], receiver: Receiver, outbox: Outbox
) -> None:
    d = as_("appsup-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="approve")
    assert as_("appsup-a").get_decision(d.id).state == common_pb2.DECISION_STATE_APPROVED
    time.sleep(0.5)
    assert outbox(d.id) == []
    assert receiver.deliveries(d.id) == []
