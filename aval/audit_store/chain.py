"""The hash chain: canonical event bytes and the hash that links each event to the previous."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aval.audit_store.records import Actor, JsonObject

SCHEMA_VERSION = 1
GENESIS_HASH = bytes(32)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no insignificant white space, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


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


@dataclass(frozen=True)
class NewEvent:
    """An event to append: what happened, to which decision, by whom, with which data."""

    kind: str
    actor: Actor
    decision_id: uuid.UUID | None
    data: JsonObject

    def canonical(self, tenant_id: str, occurred_at: datetime, trace_id: str) -> bytes:
        """The bytes that the chain hashes and the database stores verbatim."""
        return canonical_json(
            {
                "schema_version": SCHEMA_VERSION,
                "event_id": str(uuid.uuid4()),
                "tenant": tenant_id,
                "occurred_at": utc_iso(occurred_at),
                "decision_id": str(self.decision_id) if self.decision_id else "",
                "kind": self.kind,
                "actor": {"id": self.actor.id, "type": self.actor.type.value},
                "trace_id": trace_id,
                "data": self.data,
            }
        )
