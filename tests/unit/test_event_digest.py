"""One event compared with its bytes in Python (audit_store/digests.py, `digest_of`), as the
offline verifier of a bundle does for every event and the database verifier for bytes that
PostgreSQL cannot read: whatever the bytes, a problem is named, never an exception raised."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from aval.verifier.chain import canonical_json, utc_iso
from aval.verifier.events import AuditEvent, digest_of

WHEN = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
EVENT_ID, DECISION = uuid.uuid4(), uuid.uuid4()


def event(canonical: bytes) -> AuditEvent:
    return AuditEvent(
        "ville-a", 1, EVENT_ID, WHEN, DECISION, "decision.finalized", "agent-a", "human", "", 1,
        {}, canonical, bytes(32), bytes(32),
    )  # fmt: skip


def honest(**data: object) -> bytes:
    return canonical_json(
        {
            "actor": {"id": "agent-a", "type": "human"},
            "data": data,
            "decision_id": str(DECISION),
            "event_id": str(EVENT_ID),
            "kind": "decision.finalized",
            "occurred_at": utc_iso(WHEN),
            "schema_version": 1,
            "tenant": "ville-a",
            "trace_id": "",
        }
    )


def test_honest_bytes_agree_and_say_the_state() -> None:
    digest = digest_of(event(honest(decision_state="APPROVED", decision_version=2)))
    assert digest.mismatched == ""
    assert digest.state == ("APPROVED", 2)


@pytest.mark.parametrize(
    ("canonical", "named"),
    [
        (b"\xff\xfe{", "canonical bytes are not JSON"),
        (b'{"data":{"decision_state":"A","decision_version":NaN}}', "not JSON"),
        (b'{"data":{"decision_state":"A","decision_version":-Infinity}}', "not JSON"),
        (b'["pas", 1]', "tenant"),
        (b'"pas un objet"', "event_id"),
        (b'{"actor":"agent-a","data":{}}', "actor.id"),
        (honest().replace(b'"data":{}', b'"data":["decision_state"]'), ""),
        (honest(decision_state="A", decision_version=[1]), "data.decision_version"),
        (honest(decision_state="A", decision_version=1e300).replace(b"1e+300", b"1e400"),
         "data.decision_version"),
        # nested deeper than Python's parser goes (PostgreSQL stores it): not JSON here
        (honest().replace(b'"data":{}', b'"data":{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
         "canonical bytes are not JSON"),
    ],
)  # fmt: skip
def test_odd_bytes_are_named_not_raised(canonical: bytes, named: str) -> None:
    digest = digest_of(event(canonical))
    assert named in digest.mismatched
    assert digest.state is None
