"""Receiving outcome webhooks: check a delivery's Standard Webhooks signature and timestamp.

    from aval.clients.sdk.webhooks import verify_webhook, WebhookRefused

    try:
        outcome = verify_webhook(os.environ["AVAL_WEBHOOK_KEY"], request.headers, request.body)
    except WebhookRefused:
        return 400
    if already_seen(outcome["data"]["event_id"]):  # the same as the webhook-id header
        return 204                                 # at least once: deliveries may repeat
    ...

The key is the secret the operator configured for the application in the gateway's egress file
(`whsec_` then base64, or the text itself); it needs no connection to the gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookRefused(Exception):
    """A delivery that must not be trusted: `reason` says which check it failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(_PREFIX):
        try:
            return base64.b64decode(secret[len(_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("the secret is not base64 after whsec_") from None
    return secret.encode("utf-8")


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookRefused(f"missing header {name}")


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's payload, once its signature and timestamp are checked.

    Args:
        secret: the shared key (`whsec_…`, the text itself, or raw bytes).
        headers: the request's headers (any case).
        body: the request's body, exactly as received (before any JSON parsing).
        tolerance: seconds the timestamp may differ from `now`: older deliveries are replays.
        now: the receiver's time (seconds since the epoch); the system's by default.

    Raises:
        WebhookRefused: a header is missing, the timestamp is outside the tolerance, no
            signature matches, or the body is not a JSON object.
    """
    message_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        moment = int(stamp)
    except ValueError:
        raise WebhookRefused("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - moment) > tolerance:
        raise WebhookRefused("webhook-timestamp outside the tolerance (replayed or clock skew)")
    signed = f"{message_id}.{moment}.".encode() + body
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    # The header may list several signatures (key rotation), space separated: "v1,<b64> …".
    found = False
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            found = True
    if not found:
        raise WebhookRefused("no valid signature")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRefused("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused("the body is not a JSON object")
    return payload
