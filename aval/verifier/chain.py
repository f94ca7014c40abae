"""The hash chain: canonical event bytes and the hash that links each event to the previous."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
GENESIS_HASH = bytes(32)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no insignificant white space, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_json(text: str | bytes, **options: Any) -> Any:
    """`json.loads` for text someone else wrote (stored events, a bundle's files): JSON nested
    deeper than this process can read raises ValueError, as any other malformed JSON does,
    not RecursionError, so that a hostile file or event is named, never a crash.

    Args:
        text: The JSON text.
        **options: As `json.loads` takes them.

    Raises:
        ValueError: Not JSON, or nested too deeply to be read.
    """
    try:
        return json.loads(text, **options)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply to be read") from exc


def sha256_hex(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def chain_hash(prev_hash: bytes, seq: int, canonical: bytes) -> bytes:
    """SHA-256(prev_hash || seq as 8 bytes big-endian || canonical): the same as the SQL append."""
    return hashlib.sha256(prev_hash + seq.to_bytes(8, "big", signed=True) + canonical).digest()


def utc_iso(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, the one spelling of time inside canonical bytes."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
