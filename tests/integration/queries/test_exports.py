"""ExportEvents on real PostgreSQL: JSONL and CSV hold every field; exact time ranges."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aval.audit_store import Store, queries, query_sql, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.service.audit import exporting
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.audit import ExportEventsIn
from aval.verifier.chain import utc_iso
from aval.verifier.events import AuditEvent

from .conftest import BOTH, FILTERS, SYSTEM, Made


async def exported(
    deployment: Deployment, principal: Principal, export_format: str, **asked: Any
) -> tuple[bytes, list[int]]:
    request = ExportEventsIn.model_validate({"query": asked, "format": export_format})
    chunks = [c async for c in exporting.export_events(deployment, principal, request)]
    for chunk in chunks:
        assert chunk.data.endswith(b"\n"), "a chunk ends with a whole line"
    return b"".join(c.data for c in chunks), [c.events for c in chunks]


def expected_fields(e: AuditEvent) -> dict[str, Any]:
    return {
        "tenant": e.tenant_id,
        "seq": e.seq,
        "event_id": str(e.event_id),
        "occurred_at": utc_iso(e.occurred_at),
        "decision_id": str(e.decision_id),
        "kind": e.kind,
        "actor_id": e.actor_id,
        "actor_type": e.actor_type,
        "trace_id": e.trace_id,
        "schema_version": 1,
        "data": json.loads(e.canonical)["data"],
        "prev_hash": e.prev_hash.hex(),
        "hash": e.hash.hex(),
        "canonical": base64.b64encode(e.canonical).decode(),
    }


async def test_jsonl_export_holds_every_field_in_whole_line_chunks(
    deployment: Deployment,
    principals: dict[str, Principal],
    made: Made,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exporting, "CHUNK_BYTES", 1500)  # several events, several chunks
    body, counts = await exported(
        deployment, principals["insp-pool"], "EXPORT_FORMAT_JSONL", tenants=BOTH, ai_system=SYSTEM
    )
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert lines == [expected_fields(e) for e in made.events]
    assert len(counts) > 2 and counts == sorted(counts) and counts[-1] == len(made.events)
    for line in lines:
        canonical = base64.b64decode(line["canonical"])
        assert json.loads(canonical)["data"] == line["data"]


async def test_csv_export_has_a_header_and_one_row_per_event(
    deployment: Deployment, principals: dict[str, Principal], made: Made
) -> None:
    body, counts = await exported(
        deployment,
        principals["insp-pool"],
        "EXPORT_FORMAT_CSV",
        tenants=BOTH,
        ai_system=SYSTEM,
        verdict="VERDICT_REJECT",
    )
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == list(exporting.FIELDS)
    rejects = [e for e in made.events if FILTERS["verdict_reject"][1](e, made)]
    expected = [
        [
            str(v) if k != "data" else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            for k, v in expected_fields(e).items()
        ]
        for e in rejects
    ]
    assert rows[1:] == expected
    assert counts[-1] == len(rejects) == 2
    assert body.count(b"\r\n") == len(rows)


async def test_an_export_that_selects_nothing(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    absent = SYSTEM + "-absent"
    body, counts = await exported(
        deployment, principals["insp-a"], "EXPORT_FORMAT_UNSPECIFIED", ai_system=absent
    )
    assert (body, counts) == (b"", [])
    body, counts = await exported(
        deployment, principals["insp-a"], "EXPORT_FORMAT_CSV", ai_system=absent
    )
    assert body.decode().splitlines() == [",".join(exporting.FIELDS)] and counts == [0]


@pytest.mark.parametrize("block", [1, 3, 1024])
async def test_time_ranges_are_exact_when_clocks_disagree_with_the_chain(
    new_database: Callable[..., str], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events appended out of time order (clock skew between replicas, slow transactions):
    every time range still returns exactly the events that occurred in it."""
    monkeypatch.setattr(queries, "TIME_BLOCK", block)
    rng = random.Random(block)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    # Mostly forward in time, with jumps back and forth of up to two hours.
    times = [start + timedelta(minutes=10 * i + rng.randint(-120, 120)) for i in range(60)]
    actor = Actor("horloge", ActorType.SYSTEM)
    kinds = ["a.tick", "a.tock"]
    store = Store(new_database(), min_size=1, max_size=2)
    await store.open()
    try:
        async with store.transaction() as conn:
            encoded = [
                NewEvent(kinds[i % 2], actor, None, {"i": i}).canonical("horloges", at, "")
                for i, at in enumerate(times)
            ]
            await trail.append_encoded(conn, "horloges", encoded)
        for _ in range(30):
            since, until = sorted(rng.sample(times, 2))
            kind = rng.choice([None, "a.tock"])
            expected = [
                i + 1
                for i, at in enumerate(times)
                if since <= at < until and (kind is None or kinds[i % 2] == kind)
            ]
            q = query_sql.EventQuery(tenants=("horloges",), since=since, until=until, kind=kind)
            found: list[int] = []
            after: query_sql.Cursor | None = None
            async with store.reading() as conn:
                while True:
                    page, after = await queries.page(conn, q, after=after, size=4)
                    found += [e.seq for e in page]
                    if after is None:
                        break
                streamed = [e.seq async for e in queries.stream(conn, q)]
            assert found == expected and streamed == expected
    finally:
        await store.close()
