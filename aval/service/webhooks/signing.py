"""Standard Webhooks signatures: HMAC-SHA256 of "id.timestamp.body" under the shared key.

The receiving side is `aval.clients.sdk.webhooks.verify_webhook`; both read a key the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_PREFIX = "whsec_"
MIN_KEY_BYTES = 24
KEY_FORMS = (
    f"'{_PREFIX}' then base64 of {MIN_KEY_BYTES}+ random bytes, or {MIN_KEY_BYTES}+ characters"
)


def signing_key(value: str) -> bytes:
    """The HMAC key a secret's value holds: the bytes after `whsec_` (base64), else the text.

    Raises:
        ValueError: the value is not base64 after `whsec_`, or the key is shorter than
            MIN_KEY_BYTES (a short key can be guessed from the signatures).
    """
    if value.startswith(_PREFIX):
        try:
            key = base64.b64decode(value[len(_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("not base64 after whsec_") from None
    else:
        key = value.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a key has at least {MIN_KEY_BYTES} bytes")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value: "v1," then the base64 HMAC-SHA256."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }
