"""QueryEvents on real PostgreSQL: every filter, time ranges, paging across tenants, I5 and I6."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from aval.audit_store import queries, query_sql
from aval.service.audit import exporting, inspection
from aval.service.deployment import Deployment
from aval.service.errors import InvalidArgument, PermissionDenied
from aval.service.identity import Principal
from aval.service.requests import parse
from aval.service.requests.audit import ExportEventsIn, QueryEventsIn
from aval.v1 import audit_pb2

from .conftest import BOTH, FILTERS, STRATEGIES, SYSTEM, Made, everything, keys


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
