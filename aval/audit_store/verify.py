"""Verification of a tenant's trail in the database: ranges of events checked by PostgreSQL
(`verify_ranges`), their outcomes judged by the verifier's `ChainVerifier` (I3)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from aval.audit_store import trail, verify_ai_calls, verify_facts, verify_registry
from aval.audit_store.together import all_of
from aval.audit_store.verify_facts import TrailStates
from aval.audit_store.verify_ranges import Progress as Progress  # callers type progress with it
from aval.audit_store.verify_ranges import RangePass
from aval.verifier.chain_verifier import ChainVerifier, NoteParser, SignatureCheck, SignedCheckpoint
from aval.verifier.chain_verifier import Report as Report  # what verify_tenant returns
from aval.verifier.events import split_state_key

# How a tenant is verified in the database. The events are cut into ranges of sequence numbers,
# checked on several connections that share one snapshot. For each range PostgreSQL recomputes
# every hash from the stored bytes and compares every stored column with the bytes it parses
# (`digests.range_digest`): the work is per event, so the connections share it. What comes
# back is a summary, not the events: the sequence numbers, previous hashes and hashes in the
# order aggregated (Python checks that they follow on, which also proves that order), the
# events' stated decision states, and the Merkle leaf hashes where a checkpoint needs them.
# A range where anything is doubted is read again one event at a time (`check`), so that
# each problem is named by the event-by-event verifier, however it was first noticed. Nothing
# is taken from earlier runs or from what the database says of itself (stored frontiers,
# catalog): the checkpoints' roots are recomputed from the current bytes, which is what
# catches a chain rewritten consistently (I3).

RANGE_SIZE = 10_000
"""Sequence numbers per range that one connection checks at a time."""


async def verify_tenant(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    checkpoints: Sequence[SignedCheckpoint] = (),
    signature_ok: SignatureCheck | None = None,
    parse_note: NoteParser | None = None,
    since: datetime | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 10_000,
    helpers: Sequence[AsyncConnection[Any]] = (),
    range_size: int = RANGE_SIZE,
    key_id: str = "",
) -> Report:
    """Verifies one tenant's chain, checkpoints, head and decisions; reports every problem.

    Each decision's stored facts (every column callers are shown, and its reviews) are compared
    with what its events imply, and the review policy is re-proved from its events alone
    (`verify_facts`); the registries' rows and the decisions' inputs too (`verify_registry`),
    and the AI calls (`verify_ai_calls`).

    Run it in `Store.snapshot()`: in any weaker transaction, writes that commit between its
    statements look like tampering. `helpers` are more connections in the very same snapshot
    (`join_snapshot`); ranges of events are checked on all of them at once.
    `on_progress(events_checked)` is called about every `progress_every` events. `key_id`:
    the fingerprint of the key `signature_ok` checks with, which every checkpoint it verifies
    must be stored under.
    """
    verifier = ChainVerifier(
        tenant_id,
        checkpoints,
        signature_ok=signature_ok,
        parse_note=parse_note,
        since=since,
        key_id=key_id,
    )
    pass_ = RangePass(verifier, [conn, *helpers], tenant_id, range_size)
    decisions = await pass_.run(on_progress, progress_every)
    verifier.finish_checkpoints()
    verifier.check_head(await trail.chain_head(conn, tenant_id))
    verifier.check_decision_states(decisions)
    proven = trail_states(decisions, verifier.last_state) if pass_.whole else None
    findings, unchecked = await verify_facts.facts_findings([conn, *helpers], tenant_id, proven)
    # The inputs PostgreSQL did not hash the service's way (`verify_facts._INPUT_SHA256`);
    # every input when some decisions' facts could not be checked (events that are not JSON).
    to_hash = None if unchecked else [f.decision_id for f in findings if f.input_to_hash]
    differing_inputs = await verify_registry.inputs_differing(conn, tenant_id, to_hash)
    for finding in findings:
        differing = finding.differing
        if finding.decision_id in differing_inputs and "input" not in differing:
            differing += ("input",)
        verifier.check_facts(finding.decision_id, differing, finding.policy)
    for decision in sorted(differing_inputs - {f.decision_id for f in findings}):
        verifier.check_facts(decision, ("input",), [])
    if unchecked:
        verifier.facts_unchecked(unchecked)
    # The registries' rows against the admin events, the AI calls against their events: on two
    # connections of the snapshot at once, when there are two.
    # (Never both on one: each reads in a savepoint of its connection.)
    calls = verify_ai_calls.ai_call_problems(
        helpers[0] if helpers else conn, tenant_id, columns_proven=pass_.whole
    )
    if helpers:
        registries, ai_calls = await all_of(
            verify_registry.registry_problems(conn, tenant_id), calls
        )
    else:
        registries = await verify_registry.registry_problems(conn, tenant_id)
        ai_calls = await calls
    verifier.report.problems += registries + ai_calls
    return verifier.report


def trail_states(stored: dict[bytes, str], trailed: dict[bytes, str]) -> TrailStates:
    """The decisions whose state, as their trail says it, is not the stored one (by
    `decision_key`, `state_key`s), with the trail's (None when no event says one)."""
    differing: dict[uuid.UUID, str | None] = {}
    for key in stored.keys() | trailed.keys():
        said = trailed.get(key)
        state = None if said is None else split_state_key(said)[0]
        if key not in stored or split_state_key(stored[key])[0] != state:
            differing[uuid.UUID(bytes=key)] = state
    return TrailStates(differing)


async def export_snapshot(conn: AsyncConnection[Any]) -> str:
    """The id of the snapshot of `conn`'s transaction (REPEATABLE READ), for `join_snapshot`."""
    cur = await conn.execute("SELECT pg_export_snapshot()")
    row = await cur.fetchone()
    assert row is not None
    return str(row[0])


async def join_snapshot(conn: AsyncConnection[Any], snapshot: str) -> None:
    """Makes the transaction just begun on `conn` see exactly what the exporter sees.

    Call it first in the transaction; the exporting transaction must still be open.
    """
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    await conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
