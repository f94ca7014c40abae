"""Outcome webhooks, receiver side and backoff: a signature made by the gateway verifies with the
SDK's helper and with a plain HMAC; a wrong key, a changed byte, a replay outside the tolerance
or a missing header is refused; retries back off exponentially, capped, with jitter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aval.clients.sdk.webhooks import WebhookRefused, verify_webhook
from aval.service.webhooks.delivery import RetryPolicy
from aval.service.webhooks.signing import MIN_KEY_BYTES, headers, signature, signing_key

RAW_KEY = secrets.token_bytes(32)
SECRET = "whsec_" + base64.b64encode(RAW_KEY).decode()
BODY = json.dumps({"type": "decision.finalized", "data": {"state": "APPROVED"}}).encode()
EVENT_ID = "0b7e8a34-8f0e-4f56-9c67-5a8f7a0a1c11"


def _signed(key: bytes = RAW_KEY, body: bytes = BODY, stamp: int | None = None) -> dict[str, str]:
    return headers(key, EVENT_ID, int(time.time()) if stamp is None else stamp, body)


def test_the_gateways_signature_verifies_with_the_sdk_and_with_a_plain_hmac() -> None:
    sent = _signed()
    assert verify_webhook(SECRET, sent, BODY) == json.loads(BODY)
    assert verify_webhook(RAW_KEY, {k.upper(): v for k, v in sent.items()}, BODY)
    signed = f"{EVENT_ID}.{sent['webhook-timestamp']}.".encode() + BODY
    plain = base64.b64encode(hmac.new(RAW_KEY, signed, hashlib.sha256).digest()).decode()
    assert sent["webhook-signature"] == f"v1,{plain}"
    assert sent["webhook-id"] == EVENT_ID


def test_a_wrong_key_a_changed_byte_or_another_id_is_refused() -> None:
    sent = _signed()
    with pytest.raises(WebhookRefused, match="signature"):
        verify_webhook(secrets.token_bytes(32), sent, BODY)
    with pytest.raises(WebhookRefused, match="signature"):
        verify_webhook(SECRET, sent, BODY.replace(b"APPROVED", b"REJECTED"))
    with pytest.raises(WebhookRefused, match="signature"):
        verify_webhook(SECRET, {**sent, "webhook-id": "another"}, BODY)
    with pytest.raises(WebhookRefused, match="signature"):
        verify_webhook(
            SECRET, {**sent, "webhook-signature": "v2," + sent["webhook-signature"][3:]}, BODY
        )


def test_a_replay_outside_the_tolerance_is_refused_even_with_a_good_signature() -> None:
    old = _signed(stamp=int(time.time()) - 301)
    with pytest.raises(WebhookRefused, match="tolerance"):
        verify_webhook(SECRET, old, BODY)
    future = _signed(stamp=int(time.time()) + 301)
    with pytest.raises(WebhookRefused, match="tolerance"):
        verify_webhook(SECRET, future, BODY)
    assert verify_webhook(SECRET, old, BODY, tolerance=600)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_delivery_without_one_of_the_three_headers_is_refused(missing: str) -> None:
    sent = {k: v for k, v in _signed().items() if k != missing}
    with pytest.raises(WebhookRefused, match=missing):
        verify_webhook(SECRET, sent, BODY)


def test_several_signatures_verify_when_one_matches_as_in_a_key_rotation() -> None:
    sent = _signed()
    other = signature(secrets.token_bytes(32), EVENT_ID, int(sent["webhook-timestamp"]), BODY)
    both = {**sent, "webhook-signature": f"{other} {sent['webhook-signature']}"}
    assert verify_webhook(SECRET, both, BODY)


def test_a_key_is_whsec_base64_or_text_and_never_short() -> None:
    assert signing_key(SECRET) == RAW_KEY
    assert signing_key("x" * MIN_KEY_BYTES) == b"x" * MIN_KEY_BYTES
    for bad in ("", "court", "whsec_" + base64.b64encode(b"short").decode(), "whsec_!!!"):
        with pytest.raises(ValueError):
            signing_key(bad)


RETRY = RetryPolicy(base_seconds=10, max_delay_seconds=3600, max_attempts=20, max_age_seconds=1e6)


@given(attempts=st.integers(min_value=1, max_value=10_000), draw=st.floats(0, 1))
def test_backoff_grows_exponentially_capped_with_jitter_within_half_the_step(
    attempts: int, draw: float
) -> None:
    step = min(3600.0, 10.0 * 2.0 ** min(attempts - 1, 60))
    delay = RETRY.delay(attempts, lambda: draw)
    assert step / 2 <= delay <= step


def test_backoff_doubles_until_its_cap() -> None:
    lows = [RETRY.delay(n, lambda: 0.0) for n in range(1, 12)]
    assert lows[:4] == [5.0, 10.0, 20.0, 40.0]
    assert lows[-1] == 1800.0 and sorted(lows) == lows


@given(
    key=st.binary(min_size=MIN_KEY_BYTES, max_size=64),
    message_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    body=st.binary(max_size=300).map(lambda b: json.dumps({"b": b.hex()}).encode()),
    flip=st.integers(min_value=0),
)
def test_any_signed_delivery_verifies_and_any_changed_byte_of_it_does_not(
    key: bytes, message_id: str, body: bytes, flip: int
) -> None:
    now = int(time.time())
    sent = headers(key, message_id, now, body)
    assert verify_webhook(key, sent, body, now=now) == json.loads(body)
    position = flip % len(body)
    changed = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
    with pytest.raises(WebhookRefused):
        verify_webhook(key, sent, changed, now=now)
