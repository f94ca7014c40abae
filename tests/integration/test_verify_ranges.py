"""Verification by ranges (PostgreSQL checks whole ranges, on several connections in one snapshot)
finds exactly what checking one event at a time finds, whatever the tampering (I3)."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aval.audit_store import verify

from .test_tamper import TAMPERINGS
from .trail_access import as_superuser, connect
from .trail_history import (
    Step,
    Tampering,
    by_ranges,
    change_state,
    delete_and_rechain,
    edit_actor,
    edit_time,
    edit_trace,
    float_version,
    odd_version,
    one_at_a_time,
    sign,
    spaced_rewrite,
    summary,
    write_history,
)


async def drop_decision(url: str, tenant: str, seq: int, size: int) -> None:
    """A decision removed: its events now name a decision that does not exist."""
    async with await connect(url) as conn:
        await conn.execute(
            "DELETE FROM decisions WHERE tenant_id = %s AND id = (SELECT max(id::text)::uuid"
            " FROM decisions WHERE tenant_id = %s)",
            (tenant, tenant),
        )


async def move_seq_far(url: str, tenant: str, seq: int, size: int) -> None:
    """An event moved far along the sequence numbers, leaving a long hole."""
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET seq = seq + 1000000 WHERE tenant_id = %s AND seq = %s",
            (tenant, seq),
        ),
    )


MORE: dict[str, Tampering] = {
    "state changed": change_state,
    "actor edited": edit_actor,
    "trace id edited": edit_trace,
    "time edited": edit_time,
    "decision dropped": drop_decision,
    "odd version": odd_version,
    "deleted, chain recomputed": delete_and_rechain,
    "float version": float_version,
    "consistent rewrite, any event": spaced_rewrite,
    "seq moved far": move_seq_far,
}
ALL: dict[str, Tampering] = {name: tamper for name, (tamper, _) in TAMPERINGS.items()} | MORE

steps = st.builds(
    Step,
    kind=st.sampled_from(["state", "state", "state", "ai", "admin", "other"]),
    decision=st.integers(min_value=0, max_value=3),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(st.lists(steps, min_size=1, max_size=5), min_size=1, max_size=6),
    kind=st.sampled_from([None, *sorted(ALL)]),
    where=st.floats(min_value=0, max_value=1),
    signed_share=st.floats(min_value=0, max_value=1),
    since_batch=st.none() | st.integers(min_value=0, max_value=6),
    range_size=st.sampled_from([1, 2, 3, 5, 1000]),
    connections=st.sampled_from([1, 2, 3]),
)
def test_ranges_find_what_one_event_at_a_time_finds_I3(
    database_url: str,
    batches: list[list[Step]],
    kind: str | None,
    where: float,
    signed_share: float,
    since_batch: int | None,
    range_size: int,
    connections: int,
) -> None:
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    size = sum(len(batch) for batch in batches)

    async def scenario() -> tuple[verify.Report, verify.Report]:
        await write_history(database_url, tenant, batches, decisions=4)
        signed = [
            await sign(database_url, tenant, int(signed_share * size)),
            await sign(database_url, tenant, size),
        ]
        since = None
        if since_batch is not None:
            async with await connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT DISTINCT occurred_at FROM audit_events WHERE tenant_id = %s ORDER BY 1",
                    (tenant,),
                )
                times = [row[0] for row in await cur.fetchall()]
            since = times[min(since_batch, len(times) - 1)]
        if kind is not None and size >= 2:
            smallest = 2 if kind == "truncated tail" else 1
            await ALL[kind](database_url, tenant, smallest + int(where * (size - smallest)), size)
        reference = await one_at_a_time(database_url, tenant, signed, since)
        ranged = await by_ranges(
            database_url, tenant, signed, since, connections=connections, range_size=range_size
        )
        return reference, ranged

    reference, ranged = asyncio.run(scenario())
    assert summary(ranged) == summary(reference)
    if kind is None:
        assert reference.ok, reference.problems
