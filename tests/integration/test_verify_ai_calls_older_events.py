"""AI calls recorded before `ai.consulted` said the call's id, decision type and start: each row
is still found by its decision and role, every column the event says is compared, and those it
does not say are not (docs/trail_facts.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aval.audit_store import trail, verify_ai_calls
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import SYSTEM_ACTOR

from .trail_access import connect
from .trail_history import insert_decision

# What the service wrote for a call until this version.
OLDER = {
    "ai_system": "orienteur",
    "model_version": "v1",
    "role": "PRIMARY",
    "status": "SUGGESTED",
    "detail": "",
    "attempts": 1,
    "latency_ms": 120,
    "input_tokens": None,
    "output_tokens": None,
    "energy_mwh": 3,
    "cost_micro_eur": 40,
    "output": {"service": "voirie"},
}


async def _recorded(url: str, tenant: str) -> uuid.UUID:
    """A decision with one call, its event of the older shape and its row."""
    decision = uuid.uuid4()
    async with await connect(url) as conn, conn.transaction():
        await insert_decision(conn, tenant, decision, 1)
        await trail.append_events(
            conn,
            tenant,
            [NewEvent("ai.consulted", SYSTEM_ACTOR, decision, OLDER)],
            occurred_at=datetime.now(UTC) - timedelta(hours=1),
            trace_id="",
        )
        row: dict[str, Any] = {
            **OLDER,
            "tenant_id": tenant,
            "id": str(uuid.uuid4()),
            "decision_id": str(decision),
            "decision_type": "test",
            "started_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        }
        await conn.execute(
            "INSERT INTO ai_calls SELECT * FROM jsonb_populate_record(NULL::ai_calls, %s)",
            (json.dumps(row),),
        )
    return decision


async def _problems(url: str, tenant: str, *edits: str, whole: bool = False) -> list[str]:
    """The problems after a superuser's edits: their details, less the row's name unless
    `whole`."""
    async with await connect(url) as conn:
        async with conn.transaction():
            await conn.execute("SET session_replication_role = replica")
            for edit in edits:
                await conn.execute(edit, (tenant,))
        async with conn.transaction():
            found = await verify_ai_calls.ai_call_problems(conn, tenant)
    return [p.detail if whole else p.detail.split("]: ", 1)[1] for p in found]


def test_an_older_event_is_compared_by_what_it_says(database_url: str) -> None:
    tenant = f"calls-{uuid.uuid4().hex[:8]}"
    asyncio.run(_recorded(database_url, tenant))
    assert asyncio.run(_problems(database_url, tenant)) == []
    # Not in the older event: not compared.
    unsaid = "UPDATE ai_calls SET started_at = started_at - interval '1 day',"
    unsaid += " decision_type = 'autre', id = gen_random_uuid() WHERE tenant_id = %s"
    assert asyncio.run(_problems(database_url, tenant, unsaid)) == []
    said = "UPDATE ai_calls SET latency_ms = latency_ms + 1 WHERE tenant_id = %s"
    assert asyncio.run(_problems(database_url, tenant, said)) == [
        "latency_ms differs from the trail"
    ]


def test_an_older_events_row_deleted_or_doubled_is_named(database_url: str) -> None:
    tenant = f"calls-{uuid.uuid4().hex[:8]}"
    decision = asyncio.run(_recorded(database_url, tenant))
    doubled = (
        "INSERT INTO ai_calls SELECT (jsonb_populate_record(c, jsonb_build_object('id',"
        " gen_random_uuid()))).* FROM ai_calls c WHERE tenant_id = %s"
    )
    several = "the trail records one call of this decision and role; the table holds several"
    assert asyncio.run(_problems(database_url, tenant, doubled)) == [several, several]
    deleted = "DELETE FROM ai_calls WHERE tenant_id = %s"
    assert asyncio.run(_problems(database_url, tenant, deleted, whole=True)) == [
        f"ai_calls[decision_id={decision}, role=PRIMARY]: the trail records this row; the"
        " table does not hold it"
    ]
