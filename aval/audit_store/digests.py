"""Events checked by PostgreSQL for verification: whole ranges at once, or one by one."""

from __future__ import annotations

import functools
import re
import struct
from typing import Any, cast

import psycopg
from psycopg import AsyncConnection

from aval.audit_store import trail
from aval.verifier.events import (
    DECISION_EVENT_KINDS,
    EMPTY_RANGE,
    EventDigest,
    RangeDigest,
    digest_of,
    state_key,
)

# The same comparisons as digest_of, made by PostgreSQL: a verifier that reads millions of
# events must not parse their JSON in Python.
_DIGESTS = """
SELECT e.seq, e.canonical, e.prev_hash, e.hash, coalesce(e.decision_id::text, ''), e.occurred_at,
    concat_ws(', ',
        CASE WHEN e.tenant_id IS DISTINCT FROM j->>'tenant' THEN 'tenant' END,
        CASE WHEN e.event_id::text IS DISTINCT FROM j->>'event_id' THEN 'event_id' END,
        CASE WHEN coalesce(e.decision_id::text, '') IS DISTINCT FROM j->>'decision_id'
             THEN 'decision_id' END,
        CASE WHEN e.kind IS DISTINCT FROM j->>'kind' THEN 'kind' END,
        CASE WHEN e.actor_id IS DISTINCT FROM j->'actor'->>'id' THEN 'actor.id' END,
        CASE WHEN e.actor_type IS DISTINCT FROM j->'actor'->>'type' THEN 'actor.type' END,
        CASE WHEN e.trace_id IS DISTINCT FROM j->>'trace_id' THEN 'trace_id' END,
        CASE WHEN e.schema_version::text IS DISTINCT FROM j->>'schema_version'
             THEN 'schema_version' END,
        CASE WHEN e.occurred_at IS DISTINCT FROM (j->>'occurred_at')::timestamptz
             THEN 'occurred_at' END),
    j->'data'->>'decision_state', (j->'data'->>'decision_version')::bigint
FROM audit_events e
-- OFFSET 0 keeps the planner from pasting the parse into each use of j (a dozen parses)
CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS parsed
WHERE e.tenant_id = %s AND e.seq >= %s AND e.seq < %s
ORDER BY e.seq
"""


def _digest_of_row(row: tuple[Any, ...]) -> EventDigest:
    seq, canonical, prev, hash_, decision, occurred_at, mismatched, state, version = row
    return EventDigest(
        seq=seq,
        canonical=bytes(canonical),
        prev_hash=bytes(prev),
        hash=bytes(hash_),
        decision_id=decision,
        occurred_at=occurred_at,
        mismatched=mismatched,
        state=(state, version) if state is not None else None,
    )


async def range_digests(
    conn: AsyncConnection[Any], tenant_id: str, start: int, end: int
) -> list[EventDigest]:
    """The events with `start <= seq < end`, one by one, compared with their bytes.

    The comparisons are PostgreSQL's; when it cannot read some bytes of the range as JSON
    (tampered ones), the range is read again and compared in Python, which names the problem.
    """
    try:
        async with conn.transaction(), conn.cursor(binary=True) as cur:  # a savepoint
            await cur.execute(_DIGESTS, (tenant_id, start, end))
            return [_digest_of_row(row) for row in await cur.fetchall()]
    except psycopg.DataError:
        digests: list[EventDigest] = []
        after = start - 1
        while True:
            events = await trail.query_events(
                conn, trail.EventFilter(tenant_id), after_seq=after, limit=5_000
            )
            digests.extend(digest_of(event) for event in events if event.seq < end)
            if not events or events[-1].seq >= end - 1:
                return digests
            after = events[-1].seq


# -- whole ranges checked by PostgreSQL ------------------------------------------------------

# Event kinds whose data always says, at its top level, the decision's state and version.
STATE_KINDS = DECISION_EVENT_KINDS
_STATE_KEY = '"decision_state":"'
_VERSION_KEY = '"decision_version":'
# Tails of the two keys, to look for more of them: their first byte is rarer in JSON than a
# quote (which makes the search faster), and no other key of the trail ends the same way
# ("schema_version" ends in "a_version"). A key that merely ends the same is doubted too.
_STATE_TAIL = '_state":"'
_VERSION_TAIL = 'n_version":'

# Within a range, what `_DIGESTS` and ChainVerifier.check would find wrong, asked of PostgreSQL
# as one yes-or-no per event, without parsing any event's JSON (parsing was most of the cost):
#
# - its hash against SHA-256(prev_hash, seq, bytes);
# - its stored columns against its bytes. Canonical bytes (`chain.canonical_json`: sorted keys,
#   no blanks) are `{"actor":{...},"data":{...},` then the other fields, in a fixed order. So the
#   columns give the exact bytes that must open (`head`) and close (`tail`) the event; when their
#   text holds no quote and no backslash, the bytes open and close with them if, and only if,
#   every column says what the bytes say. (Each side is read from its end: a value free of
#   quotes and backslashes ends at the first quote, so no two spellings can both fit. Text with
#   a control character never fits, since JSON escapes it: that event is doubted.)
# - the decision's state and version after the event: `"decision_state":"` can only be a key
#   (inside a JSON string its quotes would be escaped), so when the event's kind always writes
#   it at the top level of its data and it occurs once, that one is the top-level one.
#   Other kinds must not hold it at all. Its version must start as a number does (the full
#   check reads any JSON number as a version, and nothing else). The two values themselves are
#   read in Python, and only from the last event of each decision in the range
#   (`_latest_states`): an earlier event's state is overwritten before anything compares it.
#
# Anything else — a quote or backslash in a column, a nested key of the same name, a layout
# the writer does not make — is doubted, never passed: the range is then read again and every
# event parsed (`range_digests`), which names the problem if there is one.
#
# What this does not look at is whether the data between head and tail is well-formed JSON:
# bytes whose hash matches were written by the service, which writes JSON, unless someone
# rewrote the chain from there on; that is what the signed checkpoints catch (and a rewrite
# after the last checkpoint can put well-formed JSON there as easily). Hashing and string work
# are row-local, so several connections share the work of one tenant.
_HEAD = """convert_to('{"actor":{"id":"' || e.actor_id || '","type":"' || e.actor_type
        || '"},"data":{', 'UTF8')"""
_TAIL = """convert_to('},"decision_id":"' || coalesce(e.decision_id::text, '')
        || '","event_id":"' || e.event_id::text || '","kind":"' || e.kind
        || '","occurred_at":"'
        || to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","schema_version":' || e.schema_version::text || ',"tenant":"' || e.tenant_id
        || '","trace_id":"' || e.trace_id || '"}', 'UTF8')"""
_KINDS = ", ".join(f"'{kind}'" for kind in STATE_KINDS)
# The length of the bytes up to the tail: where the data ends.
_DATA_END = "octet_length(e.canonical) - octet_length(e.tail)"
_NUMBER_STARTS = ", ".join(str(byte) for byte in b"-0123456789")
_ROW_AGREES = f"""coalesce(
    e.hash = sha256(e.prev_hash || int8send(e.seq) || e.canonical)
    AND strpos(e.tenant_id || e.kind || e.actor_id || e.actor_type || e.trace_id, '"') = 0
    AND strpos(e.tenant_id || e.kind || e.actor_id || e.actor_type || e.trace_id, '\\') = 0
    AND octet_length(e.canonical) >= octet_length(e.head) + octet_length(e.tail)
    AND substr(e.canonical, 1, octet_length(e.head)) = e.head
    AND substr(e.canonical, {_DATA_END} + 1) = e.tail
    AND CASE WHEN e.kind IN ({_KINDS}) THEN
            e.state_at > 0 AND e.version_at > 0
            -- and none after the first, up to the tail (which cannot hold one: it is made of
            -- columns free of quotes, and neither key's tail starts the way it does)
            AND position('{_STATE_TAIL}'::bytea IN substr(e.canonical,
                e.state_at + {len(_STATE_KEY)},
                {_DATA_END} - e.state_at - {len(_STATE_KEY) - 1})) = 0
            AND position('{_VERSION_TAIL}'::bytea IN substr(e.canonical,
                e.version_at + {len(_VERSION_KEY)},
                {_DATA_END} - e.version_at - {len(_VERSION_KEY) - 1})) = 0
            -- a minus sign or a digit (get_byte counts from 0)
            AND get_byte(e.canonical, e.version_at + {len(_VERSION_KEY) - 1}) IN ({_NUMBER_STARTS})
        ELSE e.state_at = 0 END, false)"""
# Each event that says a decision's state comes back as a fixed-size record: its decision id
# (16 bytes), then the bytes after the state key and after the version key, where the two values
# must end (`_latest_states` reads them in Python, for the last event of each decision only).
# The keys sit in the data, and the tail that must close the event is longer than both windows,
# so in an event that agrees each window is whole.
# A state is a short name (the longest, PENDING_REVIEW, takes 15 bytes with its quote); a
# version of up to 18 digits, a sign and what ends it takes 20.
_STATE_WINDOW, _VERSION_WINDOW = 24, 20
_RECORD = struct.Struct(f"16s{_STATE_WINDOW + _VERSION_WINDOW}s")
_SAYS_STATE = "decision_id IS NOT NULL AND state_at > 0"
_STATES = f"""count(*) FILTER (WHERE {_SAYS_STATE}),
    string_agg(uuid_send(decision_id)
        || substr(canonical, state_at + {len(_STATE_KEY)}, {_STATE_WINDOW})
        || substr(canonical, version_at + {len(_VERSION_KEY)}, {_VERSION_WINDOW}), '')
        FILTER (WHERE {_SAYS_STATE})"""
_FIRST = """(SELECT {column} FROM audit_events
        WHERE tenant_id = %(tenant)s AND seq >= %(start)s AND seq < %(end)s ORDER BY seq LIMIT 1)"""

# One row per range. The sequence numbers, previous hashes and hashes come back as they were
# aggregated, and Python checks that they follow on (`_follows_on`): that proves the links and
# the contiguity, and also that the aggregates took the events in sequence order, which the
# decisions' states and the Merkle leaves rely on.
_RANGE = f"""
SELECT count(*),
    coalesce(bool_and(agrees), true),
    string_agg(int8send(seq), ''), string_agg(prev_hash, ''), string_agg(hash, ''),
    {_STATES},
    @LEAVES@,
    {_FIRST.format(column="coalesce(decision_id::text, '')")},
    {_FIRST.format(column="occurred_at")}
FROM (
    SELECT e.seq, e.decision_id, e.prev_hash, e.hash, e.canonical, e.state_at, e.version_at,
        @LEAF@ AS leaf, {_ROW_AGREES} AS agrees
    -- OFFSET 0: each event's head, tail and key positions worked out once
    FROM (SELECT e.seq, e.decision_id, e.kind, e.prev_hash, e.hash, e.canonical, e.tenant_id,
                 e.actor_id, e.actor_type, e.trace_id, {_HEAD} AS head, {_TAIL} AS tail,
                 position('{_STATE_KEY}'::bytea IN e.canonical) AS state_at,
                 position('{_VERSION_KEY}'::bytea IN e.canonical) AS version_at
          FROM audit_events e
          WHERE e.tenant_id = %(tenant)s AND e.seq >= %(start)s AND e.seq < %(end)s
          ORDER BY e.seq OFFSET 0) AS e
) AS checked
"""
_RANGE_WITHOUT_LEAVES = _RANGE.replace("@LEAVES@", "NULL::bytea").replace("@LEAF@", "NULL::bytea")
_RANGE_WITH_LEAVES = _RANGE.replace("@LEAVES@", "string_agg(leaf, '')").replace(
    "@LEAF@", "sha256('\\x00'::bytea || e.canonical)"
)
_LEAVES = """
SELECT string_agg(sha256('\\x00'::bytea || canonical), '' ORDER BY seq)
FROM audit_events WHERE tenant_id = %s AND seq >= %s AND seq < %s
"""


def _follows_on(count: int, seqs: bytes, prevs: bytes, hashes: bytes) -> bool:
    """Whether the events, in the order given, have sequence numbers that go up by one and
    each links to the one before (prev_hash), with 32-byte hashes."""
    if len(seqs) != 8 * count or len(prevs) != 32 * count or len(hashes) != 32 * count:
        return False
    first = int.from_bytes(seqs[:8], "big", signed=True)
    try:
        expected = struct.pack(f">{count}q", *range(first, first + count))
    except struct.error:  # past the largest bigint
        return False
    return seqs == expected and prevs[32:] == hashes[:-32]


async def range_digest(
    conn: AsyncConnection[Any], tenant_id: str, start: int, end: int, *, leaves: bool
) -> RangeDigest | None:
    """The events with `start <= seq < end` checked by PostgreSQL, summed up.

    Returns:
        The summary (`EMPTY_RANGE` when there is no event); None when PostgreSQL doubts
        anything in the range, which must then be read with `range_digests`.
    """
    query = _RANGE_WITH_LEAVES if leaves else _RANGE_WITHOUT_LEAVES
    try:
        async with conn.transaction(), conn.cursor(binary=True) as cur:  # a savepoint
            await cur.execute(query, {"tenant": tenant_id, "start": start, "end": end})
            row = await cur.fetchone()
    except psycopg.DataError:  # bytes that are not UTF-8 JSON, a time that is no time...
        return None
    if row is None or not row[0]:
        return EMPTY_RANGE
    count, agrees, seqs, prevs, hashes, saying, records, blob, decision, occurred_at = row
    seqs, prevs, hashes = bytes(seqs), bytes(prevs), bytes(hashes)
    if not agrees or not _follows_on(count, seqs, prevs, hashes):
        return None
    latest = _latest_states(saying, b"" if records is None else bytes(records))
    if latest is None:
        return None
    decisions, states = latest
    return RangeDigest(
        count=count,
        first_seq=int.from_bytes(seqs[:8], "big", signed=True),
        first_prev_hash=prevs[:32],
        first_decision_id=decision,
        first_occurred_at=occurred_at,
        hashes=hashes,
        decisions=decisions,
        states=states,
        leaves=None if blob is None else bytes(blob),
    )


# A version in its one plain spelling (as `::bigint::text` writes it back), and what ends it.
_VERSION_VALUE = re.compile(rb"(0|-?[1-9][0-9]{0,17})[,}]")


@functools.lru_cache(maxsize=4096)
def _said(windows: bytes) -> str | None:
    """The `state_key` that a record's two windows say; None unless they say it exactly (a state
    that ends with a quote and holds no backslash, a version that is a plain integer)."""
    state, quote, _ = windows[:_STATE_WINDOW].partition(b'"')
    version = _VERSION_VALUE.match(windows, _STATE_WINDOW)
    if not quote or b"\\" in state or version is None:
        return None
    try:
        return state_key(state.decode(), version[1].decode())
    except UnicodeDecodeError:
        return None


def _latest_states(count: int, records: bytes) -> tuple[list[bytes], list[str]] | None:
    """The decisions of a range's `_RECORD`s and the state each one's last record says.

    Only the last record of a decision is read: an earlier one's state is overwritten before
    anything compares it. None when a record that counts cannot be read exactly. The windows
    of most records repeat (the keys after a state and a version are those of their event's
    kind), so what they say is remembered.
    """
    if len(records) != _RECORD.size * count:
        return None
    latest = dict(_RECORD.iter_unpack(records))
    states = [_said(windows) for windows in latest.values()]
    if None in states:
        return None
    return list(latest), cast(list[str], states)


async def range_leaves(conn: AsyncConnection[Any], tenant_id: str, start: int, end: int) -> bytes:
    """The Merkle leaf hash of each event with `start <= seq < end`, in order."""
    cur = await conn.execute(_LEAVES, (tenant_id, start, end), binary=True)
    row = await cur.fetchone()
    return b"" if row is None or row[0] is None else bytes(row[0])
