"""QueryEvents and ExportEvents on real PostgreSQL: every filter, paging across tenants, I5."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aval.audit_store import Store, queries, query_sql, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType, AuditEvent
from aval.service.audit import exporting, inspection
from aval.service.decisions import proposals, reviewing
from aval.service.deployment import Deployment
from aval.service.errors import InvalidArgument, PermissionDenied
from aval.service.identity import Principal
from aval.service.requests import parse
from aval.service.requests.audit import ExportEventsIn, QueryEventsIn
from aval.service.requests.decisions import ClaimIn, DecideIn, ProposeIn
from aval.v1 import audit_pb2
from aval.verifier.chain import utc_iso

# Every decision of this module is suggested by this AI system: the filter that keeps the
# other tests' events of the shared database out of the comparisons.
SYSTEM = f"modele-test-{uuid.uuid4().hex[:8]}"
BOTH = ["ville-a", "ville-b"]


@dataclass
class Made:
    """The decisions this module made, and everything a reference filter needs to know."""

    events: list[AuditEvent] = field(default_factory=list)
    types: dict[uuid.UUID | None, str] = field(default_factory=dict)
    versions: dict[uuid.UUID | None, str] = field(default_factory=dict)
    overridden: set[uuid.UUID | None] = field(default_factory=set)


def propose_in(decision_type: str, version: str) -> ProposeIn:
    return ProposeIn.model_validate(
        {
            "decision_type": decision_type,
            "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
            "input": {"demande": "aide cantine"},
            "idempotency_key": str(uuid.uuid4()),
            "attested_suggestion": {
                "output": {"accord": True},
                "model": {"name": SYSTEM, "version": version},
            },
        }
    )


def verdict(decision_id: uuid.UUID, name: str, **changes: Any) -> DecideIn:
    fields: dict[str, Any] = {"decision_id": decision_id, "verdict": f"VERDICT_{name.upper()}"}
    if name != "approve" or changes.pop("justify", False):
        fields["justification"] = "vérifié sur pièces"
    if name == "amend":
        fields["amended_output"] = {"accord": False}
    return DecideIn.model_validate({**fields, **changes})


@pytest.fixture(scope="module")
async def made(deployment: Deployment, principals: dict[str, Principal]) -> Made:
    """Seven decisions in two tenants, each with a different story."""
    found = Made()
    # (tenant's proposer, decision type, model version, [(reviewer, verdict)], claimed by)
    stories: list[tuple[str, str, str, list[tuple[str, str]], str | None]] = [
        ("app-a", "aides.attribution", "1.0", [("sup-a1", "approve"), ("sup-a2", "approve")], None),
        ("app-a", "aides.attribution", "2.0", [("sup-a1", "amend"), ("sup-a2", "approve")], None),
        ("app-a", "voirie.signalement", "1.0", [("sup-a3", "reject")], None),
        ("app-a", "voirie.signalement", "2.0", [], "sup-a2"),
        ("app-a", "aides.attribution", "2.0", [("sup-a2", "approve")], None),
        ("app-b", "voirie.signalement", "1.0", [("sup-b", "approve")], None),
        ("app-b", "voirie.signalement", "2.0", [("sup-b", "reject")], None),
    ]
    for proposer, decision_type, version, reviews, claimer in stories:
        proposed = await proposals.propose(
            deployment, principals[proposer], propose_in(decision_type, version)
        )
        d = proposed.decision
        if claimer:
            await reviewing.claim(deployment, principals[claimer], ClaimIn(decision_id=d.id))
        for reviewer, name in reviews:
            justify = proposer == "app-b"  # ville-b asks a justification for every verdict
            await reviewing.decide(
                deployment, principals[reviewer], verdict(d.id, name, justify=justify)
            )
            if name in ("amend", "reject"):
                found.overridden.add(d.id)
        found.types[d.id], found.versions[d.id] = decision_type, version
        async with deployment.store.reading() as conn:
            found.events += await trail.query_events(
                conn, trail.EventFilter(d.tenant_id, decision_id=d.id), after_seq=0, limit=100
            )
    found.events.sort(key=lambda e: (e.tenant_id, e.seq))
    return found


async def everything(
    deployment: Deployment, principal: Principal, page_size: int = 1000, **asked: Any
) -> tuple[list[AuditEvent], list[str]]:
    """Every event a query selects, page after page, and the tokens handed out."""
    events: list[AuditEvent] = []
    tokens: list[str] = []
    token = ""
    while True:
        request = QueryEventsIn.model_validate(
            {"page_size": page_size, "page_token": token, **asked}
        )
        page, token = await inspection.query_events(deployment, principal, request)
        events += page
        if not token:
            return events, tokens
        tokens.append(token)


def keys(events: list[AuditEvent]) -> list[tuple[str, int]]:
    return [(e.tenant_id, e.seq) for e in events]


def data(e: AuditEvent) -> dict[str, Any]:
    value: dict[str, Any] = e.body.get("data") or {}
    return value


# Each filter, and the reference that says which of the module's events it keeps.
Reference = Callable[[AuditEvent, Made], bool]
FILTERS: dict[str, tuple[dict[str, Any], Reference]] = {
    "kind": ({"kind": "review.recorded"}, lambda e, m: e.kind == "review.recorded"),
    "decision_type": (
        {"decision_type": "voirie.signalement"},
        lambda e, m: m.types[e.decision_id] == "voirie.signalement",
    ),
    "model_version": (
        {"model_version": "2.0"},
        lambda e, m: m.versions[e.decision_id] == "2.0",
    ),
    "reviewer": ({"reviewer": "sup-a2"}, lambda e, m: e.actor_id == "sup-a2"),
    "verdict_approve": (
        {"verdict": "VERDICT_APPROVE"},
        lambda e, m: e.kind == "review.recorded" and data(e)["verdict"] == "APPROVE",
    ),
    "verdict_amend": (
        {"verdict": "VERDICT_AMEND"},
        lambda e, m: e.kind == "review.recorded" and data(e)["verdict"] == "AMEND",
    ),
    "verdict_reject": (
        {"verdict": "VERDICT_REJECT"},
        lambda e, m: e.kind == "review.recorded" and data(e)["verdict"] == "REJECT",
    ),
    "overrode": ({"overrode": True}, lambda e, m: e.decision_id in m.overridden),
    "not_overrode": ({"overrode": False}, lambda e, m: e.decision_id not in m.overridden),
    "combined": (
        {"decision_type": "aides.attribution", "overrode": False, "kind": "review.recorded"},
        lambda e, m: (
            m.types[e.decision_id] == "aides.attribution"
            and e.decision_id not in m.overridden
            and e.kind == "review.recorded"
        ),
    ),
}


# How a tenant is read (see queries._rows_by_tenant): every way must give the same answer.
STRATEGIES = {
    "scan": {"FEW_DECISIONS": 0},
    "decisions_first": {"FEW_DECISIONS": 10**6},
    # Windows of three sequence numbers and no time: every page stops after one window.
    "short_pages": {"FEW_DECISIONS": 0, "SCAN_WINDOW": 3, "PAGE_SECONDS": 0.0},
    # Time ranges turned into sequence numbers with blocks of two.
    "small_time_blocks": {"FEW_DECISIONS": 0, "TIME_BLOCK": 2},
}


def use(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(queries, name, value)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("name", sorted(FILTERS))
async def test_each_filter_selects_exactly_what_it_says(
    deployment: Deployment,
    principals: dict[str, Principal],
    made: Made,
    name: str,
    strategy: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(strategy, monkeypatch)
    asked, keep = FILTERS[name]
    expected = [e for e in made.events if keep(e, made)]
    assert expected, "a filter that keeps nothing tests nothing"
    found, _ = await everything(
        deployment, principals["insp-pool"], 2, tenants=BOTH, ai_system=SYSTEM, **asked
    )
    assert keys(found) == keys(expected)


async def test_ai_system_and_decision_select_their_events(
    deployment: Deployment, principals: dict[str, Principal], made: Made
) -> None:
    pool = principals["insp-pool"]
    found, _ = await everything(deployment, pool, tenants=BOTH, ai_system=SYSTEM)
    assert keys(found) == keys(made.events)
    one = made.events[-1].decision_id
    found, _ = await everything(deployment, pool, tenants=BOTH, decision_id=one)
    assert keys(found) == keys([e for e in made.events if e.decision_id == one])
    nobody, _ = await everything(deployment, pool, tenants=BOTH, ai_system=SYSTEM + "-absent")
    assert nobody == []


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_time_range_is_since_inclusive_until_exclusive(
    deployment: Deployment,
    principals: dict[str, Principal],
    made: Made,
    strategy: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(strategy, monkeypatch)
    mine = [e for e in made.events if e.tenant_id == "ville-a"]
    since, until = mine[2].occurred_at, mine[-2].occurred_at
    expected = keys([e for e in mine if since <= e.occurred_at < until])
    found, _ = await everything(
        deployment, principals["insp-a"], 3, ai_system=SYSTEM, since=since, until=until
    )
    assert keys(found) == expected
    # Without a decision filter: other tests' events too, each in the range, mine among them.
    found, _ = await everything(deployment, principals["insp-a"], 3, since=since, until=until)
    assert all(since <= e.occurred_at < until for e in found)
    assert [k for k in keys(found) if k in set(expected)] == expected
    later, _ = await everything(
        deployment, principals["insp-a"], ai_system=SYSTEM, since=until + timedelta(days=1)
    )
    assert later == []


@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
async def test_paging_across_tenants_returns_each_event_once_in_a_stable_order(
    deployment: Deployment, principals: dict[str, Principal], made: Made, page_size: int
) -> None:
    found, tokens = await everything(
        deployment, principals["insp-pool"], page_size, tenants=BOTH, ai_system=SYSTEM
    )
    assert keys(found) == keys(made.events)
    assert len(set(keys(found))) == len(found)
    assert len(tokens) == (len(made.events) - 1) // page_size
    # A token says where it stands: a page that ends in ville-a resumes in ville-a.
    positions = [query_sql.decode_cursor(t) for t in tokens]
    assert positions == sorted(positions)
    assert {p.tenant_id for p in positions} <= set(BOTH)
    again, _ = await everything(
        deployment, principals["insp-pool"], page_size, tenants=BOTH, ai_system=SYSTEM
    )
    assert keys(again) == keys(found)


async def test_tenant_and_tenants_are_read_together(
    deployment: Deployment, principals: dict[str, Principal], made: Made
) -> None:
    found, _ = await everything(
        deployment, principals["insp-pool"], tenant="ville-b", tenants=["ville-a"], ai_system=SYSTEM
    )
    assert keys(found) == keys(made.events)
    own, _ = await everything(deployment, principals["insp-b"], ai_system=SYSTEM)
    assert keys(own) == keys([e for e in made.events if e.tenant_id == "ville-b"])


@pytest.mark.parametrize(
    ("who", "tenants"),
    [("insp-a", BOTH), ("insp-b", ["ville-a"]), ("insp-b", ["ville-b", "ville-a"])],
)
async def test_several_tenants_only_for_a_principal_granted_each_I5(
    deployment: Deployment, principals: dict[str, Principal], who: str, tenants: list[str]
) -> None:
    request = QueryEventsIn.model_validate({"tenants": tenants})
    with pytest.raises(PermissionDenied):
        await inspection.query_events(deployment, principals[who], request)
    export = ExportEventsIn.model_validate({"query": {"tenants": tenants}})
    with pytest.raises(PermissionDenied):
        async for _ in exporting.export_events(deployment, principals[who], export):
            pass


async def test_unknown_tenants_and_bad_tokens_are_named_I6(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    request = QueryEventsIn.model_validate({"tenants": ["ville-a", "nowhere", "ville-z"]})
    with pytest.raises(PermissionDenied) as denied:  # refused like not granted (I5)
        await inspection.query_events(deployment, principals["insp-pool"], request)
    assert denied.value.params["tenant"] == "nowhere"
    forged = [base64.urlsafe_b64encode(raw).decode() for raw in (b"ev1:x:ville-a", b"ev1:5:")]
    for token in ("garbage", "c2VxOjQ", *forged):  # c2VxOjQ: "seq:4", a token of old
        bad = QueryEventsIn.model_validate({"page_token": token})
        with pytest.raises(InvalidArgument) as refused:
            await inspection.query_events(deployment, principals["insp-a"], bad)
        assert [v.field for v in refused.value.violations] == ["page_token"]


def test_export_requests_ignore_paging_and_name_bad_fields() -> None:
    message = audit_pb2.ExportEventsRequest(
        query=audit_pb2.QueryEventsRequest(page_size=5000, page_token="x", overrode=False),
        format=audit_pb2.EXPORT_FORMAT_CSV,
    )
    parsed = parse(ExportEventsIn, message)
    assert parsed.format == "EXPORT_FORMAT_CSV" and parsed.query.overrode is False
    bad = audit_pb2.ExportEventsRequest(query=audit_pb2.QueryEventsRequest(decision_id="x"))
    with pytest.raises(InvalidArgument) as refused:
        parse(ExportEventsIn, bad)
    assert [v.field for v in refused.value.violations] == ["query.decision_id"]


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
