"""How a range's state records are read (audit_store/digests.py, `_latest_states`): the last
record of each decision counts, and anything it cannot read exactly doubts the range."""

from __future__ import annotations

import uuid

import pytest

from aval.audit_store.digests import _RECORD, _latest_states
from aval.audit_store.records import DecisionState
from aval.verifier.events import decision_id, decision_key, state_key


def record(decision: uuid.UUID, after_state: bytes, after_version: bytes) -> bytes:
    """One record as PostgreSQL makes it: fixed windows cut from the bytes after each key."""
    rest = b',"decision_id":"' + str(decision).encode()
    return _RECORD.pack(decision.bytes, (after_state + rest)[:24] + (after_version + rest)[:20])


A, B = uuid.uuid4(), uuid.uuid4()


def test_the_last_record_of_each_decision_counts_in_first_seen_order() -> None:
    records = [
        record(A, b'PENDING_REVIEW","decision_type":"t"', b"1,"),
        record(B, b'PENDING_REVIEW",', b"1,"),
        record(A, b'APPROVED",', b"2}"),
        record(B, b'REJECTED",', b"-3,"),
    ]
    assert _latest_states(4, b"".join(records)) == (
        [A.bytes, B.bytes],
        [state_key("APPROVED", 2), state_key("REJECTED", -3)],
    )


def test_a_decision_key_is_the_id_in_16_bytes() -> None:
    assert decision_key(A) == decision_key(str(A)) == A.bytes
    assert decision_id(A.bytes) == str(A)


def test_the_longest_state_and_version_fit_their_windows() -> None:
    longest = max(DecisionState, key=len)
    for version in (b"9" * 18, b"-" + b"9" * 18):
        records = record(A, longest.encode() + b'",', version + b"}")
        assert _latest_states(1, records) == ([A.bytes], [state_key(longest, int(version))])


def test_no_record_is_no_state() -> None:
    assert _latest_states(0, b"") == ([], [])


# An earlier record of the same decision is not read: it would be overwritten anyway.
@pytest.mark.parametrize(
    ("state", "version"),
    [
        (b"APPROVED" * 3, b"2,"),  # no closing quote within the window
        (b'APPRO\\"VED",', b"2,"),  # an escaped quote inside the state
        (b'APPRO\xffVED",', b"2,"),  # not UTF-8
        (b'APPROVED",', b"2.0,"),  # a fraction
        (b'APPROVED",', b"2e0,"),  # an exponent
        (b'APPROVED",', b"02,"),  # not JSON
        (b'APPROVED",', b"-0,"),  # not as written back
        (b'APPROVED",', b'"2",'),  # text
        (b'APPROVED",', b"1" * 20),  # no end within the window
    ],
)
def test_a_last_record_read_otherwise_than_exactly_doubts_the_range(
    state: bytes, version: bytes
) -> None:
    records = record(A, b'PENDING_REVIEW",', b"1,") + record(A, state, version)
    assert _latest_states(2, records) is None
    # The same odd record before a plain one is never read.
    assert _latest_states(2, record(A, state, version) + record(A, b'APPROVED",', b"2,")) == (
        [A.bytes],
        [state_key("APPROVED", 2)],
    )


def test_records_that_do_not_add_up_to_the_count_doubt_the_range() -> None:
    one = record(A, b'APPROVED",', b"2,")
    assert _latest_states(2, one) is None
    assert _latest_states(1, one[:-1]) is None
