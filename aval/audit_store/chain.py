"""A new event of the hash chain: what the store appends (its hashing is `aval.verifier.chain`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aval.audit_store.records import Actor, JsonObject
from aval.verifier.chain import SCHEMA_VERSION, canonical_json, utc_iso


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
