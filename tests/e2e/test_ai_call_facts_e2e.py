"""Every row of `ai_calls` (what Evaluate and Usage add up) is checked against the `ai.consulted`
event written with it, and every such event against a row: a database superuser's edit of any
column, a deleted row or a row with no event is named by verification, online (I3)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from aval.clients import Client
from aval.v1 import advisor_pb2_grpc, audit_pb2, common_pb2
from tests.support import ServerProcess

from .ai_backends.conftest import VersionedAdvisor, pin, propose, register
from .helpers import VerifiedGateway, all_events, restored, run_cli, superuser

pytestmark = pytest.mark.e2e

TENANT = "ville-a"
SYSTEM = "ia-advisor"  # the AI system of the test policies' `signalement.ia`


World = VerifiedGateway


@pytest.fixture(scope="module")
def world(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Its own database and gateway, an Advisor pinned at v1 with v2 in shadow, and two
    decisions it advised (a primary and a shadow call each)."""
    servicer = VersionedAdvisor()
    advisor = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(servicer, advisor)
    port = advisor.add_insecure_port("127.0.0.1:0")
    advisor.start()
    url = new_database()
    server = ServerProcess.start(url, tmp_path_factory.mktemp("e2e-ai-calls"), name="ai-calls")
    w = World(server, url)
    clients: dict[str, Client] = {}

    def client_of(principal: str) -> Client:
        clients.setdefault(principal, w.client(principal))
        return clients[principal]

    try:
        register(client_of, SYSTEM, "advisor", f"127.0.0.1:{port}", ["v1", "v2"])
        pin(client_of, SYSTEM, "v1")
        client_of("admin-a").set_shadow(SYSTEM, "v2", reason="comparer")
        first = propose(client_of("app-a"), "signalement.ia")
        second = propose(client_of("app-a"), "signalement.ia")
        assert first.advice_status == common_pb2.ADVICE_STATUS_SUGGESTED
        events = all_events(client_of("insp-a"), decision_id=first.id, kind="ai.consulted")
        calls = {e.data["role"]: e.data["call_id"] for e in events}
        w.keys = {
            "primary": calls["PRIMARY"],
            "shadow": calls["SHADOW"],
            "decision": first.id,
            "other": second.id,
        }
        report = w.verify()
        assert report.ok, list(report.problems)
        yield w
    finally:
        for opened in clients.values():
            opened.close()
        assert server.stop() == 0, server.log_path.read_text()
        advisor.stop(grace=None)


# Each column of ai_calls compared with its event, the call it is edited on, and the edit.
EDITS: dict[str, tuple[str, str]] = {
    "decision_id": ("primary", "decision_id = '{other}'"),
    "decision_type": ("primary", "decision_type = 'aides.attribution'"),
    "ai_system": ("primary", "ai_system = 'autre-systeme'"),
    "model_version": ("shadow", "model_version = 'v9'"),
    "role": ("shadow", "role = 'PRIMARY'"),
    "status": ("primary", "status = 'UNAVAILABLE'"),
    "detail": ("primary", "detail = 'réponse réécrite'"),
    "started_at": ("primary", "started_at = started_at - interval '1 hour'"),
    "latency_ms": ("primary", "latency_ms = latency_ms + 1"),
    "attempts": ("primary", "attempts = attempts + 1"),
    "input_tokens": ("primary", "input_tokens = coalesce(input_tokens, 0) + 7"),
    "output_tokens": ("shadow", "output_tokens = coalesce(output_tokens, 0) + 7"),
    "energy_mwh": ("primary", "energy_mwh = energy_mwh + 1"),
    "cost_micro_eur": ("shadow", "cost_micro_eur = cost_micro_eur + 1"),
    "output": ("shadow", "output = jsonb_build_object('service', 'eclairage')"),
}


def _problems(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, str]]:
    return sorted((p.kind, p.detail) for p in report.problems)


def _named(detail: str) -> tuple[str, str]:
    return ("registry_projection_mismatch", detail)


def _edit(world: World, sql: str, *params: Any) -> int:
    with superuser(world.url) as conn:
        return conn.execute(sql.format(**world.keys), params).rowcount


def test_every_compared_column_of_ai_calls_is_edited_here() -> None:
    from aval.audit_store.verify_ai_calls import COLUMNS

    assert {column for column, _, _ in COLUMNS} == set(EDITS)


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edited_column_of_an_ai_call_is_named_I3(world: World, column: str) -> None:
    call, edit = EDITS[column]
    with restored(world.url, "ai_calls", TENANT):
        changed = _edit(
            world, f"UPDATE aval.ai_calls SET {edit} WHERE tenant_id = %s AND id = %s", TENANT,
            world.keys[call],
        )  # fmt: skip
        assert changed == 1
        assert _problems(world.verify()) == [
            _named(f"ai_calls[id={world.keys[call]}]: {column} differs from the trail")
        ]
    assert world.verify().ok


def test_a_deleted_ai_call_is_named_online_and_by_the_cli_I3(world: World) -> None:
    with restored(world.url, "ai_calls", TENANT):
        deleted = _edit(
            world, "DELETE FROM aval.ai_calls WHERE tenant_id = %s AND id = %s", TENANT,
            world.keys["shadow"],
        )  # fmt: skip
        assert deleted == 1
        detail = "the trail records this row; the table does not hold it"
        assert _problems(world.verify()) == [
            _named(f"ai_calls[id={world.keys['shadow']}]: {detail}")
        ]
        done = run_cli(world.server.address, "insp-a", "audit", "verify")
        assert done.returncode == 1 and "registry_projection_mismatch" in done.stdout
        assert world.keys["shadow"] in done.stdout, done.stdout
    assert world.verify().ok


def test_an_ai_call_with_no_event_is_named_I3(world: World) -> None:
    with restored(world.url, "ai_calls", TENANT):
        added = _edit(
            world,
            "INSERT INTO aval.ai_calls SELECT (jsonb_populate_record(c,"
            " jsonb_build_object('id', '00000000-0000-4000-8000-000000000001'))).*"
            " FROM aval.ai_calls c WHERE tenant_id = %s AND id = %s",
            TENANT,
            world.keys["primary"],
        )
        assert added == 1
        assert _problems(world.verify()) == [
            _named(
                "ai_calls[id=00000000-0000-4000-8000-000000000001]: no event of the trail"
                " records this row"
            )
        ]
    assert world.verify().ok


def test_an_ai_call_given_another_id_is_named_twice_I3(world: World) -> None:
    new_id = "00000000-0000-4000-8000-000000000002"
    with restored(world.url, "ai_calls", TENANT):
        _edit(
            world, "UPDATE aval.ai_calls SET id = %s WHERE tenant_id = %s AND id = %s", new_id,
            TENANT, world.keys["primary"],
        )  # fmt: skip
        assert _problems(world.verify()) == sorted(
            [
                _named(f"ai_calls[id={new_id}]: no event of the trail records this row"),
                _named(
                    f"ai_calls[id={world.keys['primary']}]: the trail records this row; the"
                    " table does not hold it"
                ),
            ]
        )
    assert world.verify().ok


def test_an_ai_consulted_event_says_every_column_of_its_row(world: World) -> None:
    with world.client("insp-a") as inspector:
        events = all_events(inspector, decision_id=world.keys["decision"], kind="ai.consulted")
    for event in events:
        assert {"call_id", "decision_type", "started_at"} <= set(event.data.keys())
        assert event.data["decision_type"] == "signalement.ia"


def test_an_unreadable_ai_consulted_event_leaves_the_calls_unchecked_and_says_so_I3(
    world: World,
) -> None:
    """An event whose bytes say a time that is none stops the comparison of the calls: named
    (`projection_unchecked`), beside what the chain check names, never passed over."""
    with superuser(world.url) as conn:
        row = conn.execute(
            "SELECT seq, canonical FROM aval.audit_events WHERE tenant_id = %s"
            " AND kind = 'ai.consulted' AND canonical LIKE %s",
            (TENANT, f'%"call_id":"{world.keys["primary"]}"%'.encode()),
        ).fetchone()
    assert row is not None
    seq, canonical = row
    unreadable = re.sub(rb'"started_at":"[^"]+"', b'"started_at":"hier"', canonical)
    assert unreadable != canonical
    try:
        _edit(
            world, "UPDATE aval.audit_events SET canonical = %s WHERE tenant_id = %s AND seq = %s",
            unreadable, TENANT, seq,
        )  # fmt: skip
        kinds = {p.kind: p.detail for p in world.verify().problems}
        assert "the AI calls were not compared with the trail" in kinds["projection_unchecked"]
        assert "hash_mismatch" in kinds, kinds
    finally:
        _edit(
            world, "UPDATE aval.audit_events SET canonical = %s WHERE tenant_id = %s AND seq = %s",
            canonical, TENANT, seq,
        )  # fmt: skip
    assert world.verify().ok
