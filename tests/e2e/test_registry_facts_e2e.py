"""Every row of the registries a caller reads (AI systems, model versions, pin and
configuration requests, stops, reviewer qualifications) is checked against the administrators'
events of the trail, and every decision's stored input against the hash its proposal recorded;
a database superuser's edit is named, online (I3; issue 12, item 1)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from aval.clients import Client
from aval.v1 import audit_pb2
from tests.support import ServerProcess

from .helpers import VerifiedGateway, propose_kwargs, restored, run_cli, superuser

pytestmark = pytest.mark.e2e

SYSTEM = "orienteur-registre"
ODD_INPUT = {
    "grand": 1e20,
    "petit": 1.5e-7,
    "entier": 9007199254740991,
    "liste": [1, 2.5, -0.0, True, None],
    "texte": 'é \u2028 "guillemets" \\ 😀',
    "imbriqué": {"b": 1, "a": {"z": [], "y": {}}},
}
TENANT = "ville-a"


World = VerifiedGateway


def _qualify(admin: Client, reviewer: str, until: int, reason: str = "formation suivie") -> Any:
    today = date.today()
    return admin.set_reviewer_qualification(
        reviewer,
        decision_type="aides.attribution",
        trained_on=today - timedelta(days=10),
        delegated_by="Mme la Maire, arrêté n° 2026-14",
        valid_from=today - timedelta(days=1),
        valid_until=today + timedelta(days=until),
        reason=reason,
    ).qualification


@pytest.fixture(scope="module")
def world(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Its own database and gateway, with a row of each registry in each shape it takes."""
    url = new_database()
    server = ServerProcess.start(url, tmp_path_factory.mktemp("e2e-registry"), name="registry")
    w = World(server, url)
    with w.client("admin-a") as a, w.client("admin-a2") as a2, w.client("app-a") as app:
        a.register_ai_system(
            SYSTEM, kind="advisor", endpoint="127.0.0.1:50061", reason="mise en service"
        )
        for version in ("1.0", "2.0", "3.0"):
            a.register_model_version(
                SYSTEM,
                version,
                intended_purpose="orienter les signalements",
                known_limits=["ne lit pas les photos"],
                accuracy_note="justesse 0,9",
                metrics={"accuracy": 0.9},
            )
        pinned = a.request_pin(SYSTEM, "1.0", reason="première version")
        a2.decide_pin(pinned.id, approve=True, reason="évaluée")
        refused = a.request_pin(SYSTEM, "2.0", reason="plus récente")
        a2.decide_pin(refused.id, approve=False, reason="pas encore évaluée")
        a.set_shadow(SYSTEM, "2.0", reason="comparer")
        held = a.register_ai_system(
            SYSTEM, kind="advisor", endpoint="127.0.0.1:50062", reason="nouvel hôte"
        ).pending_change
        a2.decide_pin(held.id, approve=True, reason="hôte vérifié")
        a.stop_ai("ai_system", SYSTEM, reason="réponses douteuses")
        a.stop_ai("tenant", reason="incident")
        a.resume_ai("tenant", reason="incident clos")
        old = _qualify(a, "sup-a1", 30)
        renewed = _qualify(a, "sup-a1", 60, reason="délégation prolongée")
        revoked = _qualify(a, "sup-a2", 30)
        a.revoke_reviewer_qualification(revoked.id, reason="a quitté le service")
        decision = app.propose(**propose_kwargs()).decision
        # numbers and text whose spelling PostgreSQL's jsonb changes: re-hashed all the same
        app.propose(**propose_kwargs(input=ODD_INPUT))
    w.keys = {
        "pinned": pinned.id,
        "refused": refused.id,
        "held": held.id,
        "old": old.id,
        "renewed": renewed.id,
        "revoked": revoked.id,
        "decision": decision.id,
    }
    report = w.verify()
    assert report.ok, list(report.problems)
    yield w
    assert server.stop() == 0


# Which row of each table an edit changes: its WHERE clause and how verification names it.
ROWS: dict[str, tuple[str, str]] = {
    "system": ("ai_systems", f"name = '{SYSTEM}'"),
    "version": ("model_versions", f"ai_system = '{SYSTEM}' AND version = '1.0'"),
    "pinned": ("pin_requests", "id = '{pinned}'"),
    "refused": ("pin_requests", "id = '{refused}'"),
    "held": ("pin_requests", "id = '{held}'"),
    "stop": ("ai_stops", f"scope = 'AI_SYSTEM' AND target = '{SYSTEM}'"),
    "old": ("reviewer_qualifications", "id = '{old}'"),
    "renewed": ("reviewer_qualifications", "id = '{renewed}'"),
    "revoked": ("reviewer_qualifications", "id = '{revoked}'"),
}
NAMES: dict[str, str] = {
    "system": f"ai_systems[name={SYSTEM}]",
    "version": f"model_versions[ai_system={SYSTEM}, version=1.0]",
    "pinned": "pin_requests[id={pinned}]",
    "refused": "pin_requests[id={refused}]",
    "held": "pin_requests[id={held}]",
    "stop": f"ai_stops[scope=AI_SYSTEM, target={SYSTEM}]",
    "old": "reviewer_qualifications[id={old}]",
    "renewed": "reviewer_qualifications[id={renewed}]",
    "revoked": "reviewer_qualifications[id={revoked}]",
}

# Each column a caller is shown, the row it is edited on, and the edit.
EDITS: dict[str, tuple[str, str]] = {
    "ai_systems.kind": ("system", "kind = 'OPENAI_COMPATIBLE'"),
    "ai_systems.endpoint": ("system", "endpoint = '127.0.0.1:50099'"),
    "ai_systems.model": ("system", "model = 'autre-modele'"),
    "ai_systems.api_key_env": ("system", "api_key_env = 'ALBERT_API_KEY'"),
    "ai_systems.pinned_version": ("system", "pinned_version = '3.0'"),
    "ai_systems.shadow_version": ("system", "shadow_version = NULL"),
    "ai_systems.enabled": ("system", "enabled = NOT enabled"),
    "ai_systems.timeout_ms": ("system", "timeout_ms = timeout_ms + 1"),
    "ai_systems.max_attempts": (
        "system",
        "max_attempts = CASE WHEN max_attempts = 5 THEN 4 ELSE max_attempts + 1 END",
    ),
    "ai_systems.energy_mwh_per_1k_tokens": (
        "system",
        "energy_mwh_per_1k_tokens = energy_mwh_per_1k_tokens + 1",
    ),
    "ai_systems.energy_mwh_per_call": ("system", "energy_mwh_per_call = energy_mwh_per_call + 1"),
    "ai_systems.cost_micro_eur_per_1k_tokens": (
        "system",
        "cost_micro_eur_per_1k_tokens = cost_micro_eur_per_1k_tokens + 1",
    ),
    "ai_systems.cost_micro_eur_per_call": (
        "system",
        "cost_micro_eur_per_call = cost_micro_eur_per_call + 1",
    ),
    "ai_systems.created_at": ("system", "created_at = created_at - interval '1 hour'"),
    "ai_systems.updated_at": ("system", "updated_at = updated_at + interval '1 hour'"),
    "model_versions.intended_purpose": ("version", "intended_purpose = 'tout décider'"),
    "model_versions.known_limits": ("version", "known_limits = ARRAY[]::text[]"),
    "model_versions.accuracy_note": ("version", "accuracy_note = 'justesse 0,99'"),
    "model_versions.metrics": ("version", "metrics = jsonb_build_object('accuracy', 0.99)"),
    "model_versions.registered_by": ("version", "registered_by = 'admin-a2'"),
    "model_versions.registered_at": (
        "version",
        "registered_at = registered_at - interval '1 day'",
    ),
    "pin_requests.ai_system": ("pinned", "ai_system = 'autre-systeme'"),
    "pin_requests.version": ("pinned", "version = '3.0'"),
    "pin_requests.configuration": (
        "held",
        "configuration = jsonb_set(configuration, ARRAY['0', 'value'],"
        " to_jsonb('127.0.0.1:50099'::text))",
    ),
    "pin_requests.previous_version": ("refused", "previous_version = '3.0'"),
    "pin_requests.reason": ("pinned", "reason = 'autre motif'"),
    "pin_requests.requested_by": ("pinned", "requested_by = 'admin-a2'"),
    "pin_requests.requested_at": ("pinned", "requested_at = requested_at - interval '1 day'"),
    "pin_requests.state": ("refused", "state = 'APPROVED'"),
    "pin_requests.decided_by": ("refused", "decided_by = 'admin-a'"),
    "pin_requests.decided_at": ("refused", "decided_at = decided_at + interval '1 hour'"),
    "pin_requests.decision_reason": ("held", "decision_reason = 'sans examen'"),
    "ai_stops.reason": ("stop", "reason = 'autre motif'"),
    "ai_stops.stopped_by": ("stop", "stopped_by = 'admin-a2'"),
    "ai_stops.stopped_at": ("stop", "stopped_at = stopped_at - interval '1 day'"),
    "reviewer_qualifications.reviewer_id": ("renewed", "reviewer_id = 'sup-a3'"),
    "reviewer_qualifications.decision_type": ("renewed", "decision_type = '*'"),
    "reviewer_qualifications.trained_on": ("renewed", "trained_on = trained_on - 1"),
    "reviewer_qualifications.delegated_by": ("renewed", "delegated_by = 'personne'"),
    "reviewer_qualifications.valid_from": ("renewed", "valid_from = valid_from - 30"),
    "reviewer_qualifications.valid_until": ("renewed", "valid_until = valid_until + 365"),
    "reviewer_qualifications.granted_by": ("renewed", "granted_by = 'admin-a2'"),
    "reviewer_qualifications.granted_at": (
        "renewed",
        "granted_at = granted_at - interval '1 hour'",
    ),
    "reviewer_qualifications.reason": ("renewed", "reason = 'autre motif'"),
    "reviewer_qualifications.renews": ("renewed", "renews = NULL"),
    "reviewer_qualifications.superseded_at": (
        "old",
        "superseded_at = superseded_at + interval '1 day'",
    ),
    "reviewer_qualifications.superseded_by": ("old", "superseded_by = '{revoked}'"),
    "reviewer_qualifications.revoked_at": ("revoked", "revoked_at = revoked_at + interval '1 day'"),
    "reviewer_qualifications.revoked_by": ("revoked", "revoked_by = 'admin-a2'"),
    "reviewer_qualifications.revoke_reason": ("revoked", "revoke_reason = 'aucune'"),
}


def _problems(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, str, str]]:
    return sorted((p.kind, p.decision_id, p.detail) for p in report.problems)


def _mismatch(world: World, row: str, detail: str) -> list[tuple[str, str, str]]:
    return [("registry_projection_mismatch", "", f"{NAMES[row].format(**world.keys)}: {detail}")]


def cli_verify(world: World) -> tuple[int, str]:
    done = run_cli(world.server.address, "insp-a", "audit", "verify")
    return done.returncode, done.stdout


def test_every_shown_column_of_every_registry_is_edited_here() -> None:
    from aval.audit_store.verify_registry import TABLES

    shown = {f"{table}.{column}" for table, (_, columns) in TABLES.items() for column in columns}
    assert shown == set(EDITS)


@pytest.mark.parametrize("edited", sorted(EDITS))
def test_an_edited_column_of_a_registry_is_named_I3(world: World, edited: str) -> None:
    row, edit = EDITS[edited]
    table, where = ROWS[row]
    column = edited.split(".", 1)[1]
    with restored(world.url, table, TENANT):
        with superuser(world.url) as conn:
            changed = conn.execute(
                f"UPDATE aval.{table} SET {edit.format(**world.keys)}"
                f" WHERE tenant_id = %s AND {where.format(**world.keys)}",
                (TENANT,),
            )
            assert changed.rowcount == 1
        assert _problems(world.verify()) == _mismatch(
            world, row, f"{column} differs from the trail"
        )
    assert world.verify().ok


def test_a_deleted_registry_row_is_named_online_and_by_the_cli_I3(world: World) -> None:
    with restored(world.url, "reviewer_qualifications", TENANT):
        with superuser(world.url) as conn:
            conn.execute(
                "DELETE FROM aval.reviewer_qualifications WHERE tenant_id = %s AND id = %s",
                (TENANT, world.keys["revoked"]),
            )
        detail = "the trail records this row; the table does not hold it"
        assert _problems(world.verify()) == _mismatch(world, "revoked", detail)
        status, out = cli_verify(world)
        assert status == 1 and "registry_projection_mismatch" in out, out
        assert world.keys["revoked"] in out, out
    assert world.verify().ok


def test_a_registry_row_with_no_event_is_named_I3(world: World) -> None:
    with restored(world.url, "ai_stops", TENANT):
        with superuser(world.url) as conn:
            conn.execute(
                "INSERT INTO aval.ai_stops (tenant_id, scope, target, reason, stopped_by,"
                " stopped_at) VALUES (%s, 'TENANT', '', 'arrêt discret', 'admin-a', now())",
                (TENANT,),
            )
        assert _problems(world.verify()) == [
            (
                "registry_projection_mismatch",
                "",
                "ai_stops[scope=TENANT, target=]: no event of the trail records this row",
            )
        ]
    assert world.verify().ok


def test_an_edited_input_is_named_online_and_by_the_cli_I3(world: World) -> None:
    decision = world.keys["decision"]
    with restored(world.url, "decisions", TENANT):
        with superuser(world.url) as conn:
            conn.execute(
                "UPDATE aval.decisions SET input = jsonb_set(input, '{quotient_familial}', '1200')"
                " WHERE tenant_id = %s AND id = %s",
                (TENANT, decision),
            )
        assert _problems(world.verify()) == [
            ("decision_projection_mismatch", decision, "input differs from the trail")
        ]
        status, out = cli_verify(world)
        assert status == 1 and "decision_projection_mismatch" in out and "input" in out, out
    assert world.verify().ok


def test_an_edited_input_is_named_when_the_facts_cannot_be_checked_I3(world: World) -> None:
    """A proposal whose data the facts check cannot read (a count that is not a number) stops
    the check of the decisions beside it (named); every input is then hashed by the verifying
    process, so its own edited input is still named."""
    decision = world.keys["decision"]
    with superuser(world.url) as conn:
        row = conn.execute(
            "SELECT seq, canonical FROM aval.audit_events WHERE tenant_id = %s"
            " AND kind = 'decision.proposed' AND decision_id = %s",
            (TENANT, decision),
        ).fetchone()
    assert row is not None
    seq, canonical = row
    try:
        with restored(world.url, "decisions", TENANT):
            with superuser(world.url) as conn:
                unreadable = re.sub(
                    rb'"required_approvals":\d+', b'"required_approvals":"x"', canonical
                )
                assert unreadable != canonical
                conn.execute(
                    "UPDATE aval.audit_events SET canonical = %s WHERE tenant_id = %s AND seq = %s",
                    (unreadable, TENANT, seq),
                )
                conn.execute(
                    "UPDATE aval.decisions SET input = jsonb_set(input, '{quotient_familial}',"
                    " '1200') WHERE tenant_id = %s AND id = %s",
                    (TENANT, decision),
                )
            problems = _problems(world.verify())
            assert ("decision_projection_mismatch", decision, "input differs from the trail") in (
                problems
            ), problems
            assert "projection_unchecked" in {kind for kind, _, _ in problems}, problems
    finally:
        with superuser(world.url) as conn:
            conn.execute(
                "UPDATE aval.audit_events SET canonical = %s WHERE tenant_id = %s AND seq = %s",
                (canonical, TENANT, seq),
            )
    assert world.verify().ok


def test_the_untouched_registries_verify_clean_online_and_by_the_cli(world: World) -> None:
    assert world.verify().ok
    status, out = cli_verify(world)
    assert status == 0, out


def test_the_demos_registry_verifies_clean_after_a_restart_and_names_an_edit(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`aval serve --demo` registers and pins its AI system at each start (a new address each
    time): its events say every value of its rows."""
    url = new_database()
    for attempt in (1, 2):
        folder = tmp_path_factory.mktemp(f"e2e-demo-registry-{attempt}")
        demo = ServerProcess.start(url, folder, name="demo", demo=True)
        try:
            inspector = demo.read_exports(7)["AVAL_TOKEN_INSPECTOR"]
            done = run_cli(demo.address, None, "audit", "verify", token=inspector)
            assert done.returncode == 0, done.stdout + done.stderr
            if attempt == 2:
                with superuser(url) as conn:
                    conn.execute(
                        "UPDATE aval.ai_systems SET endpoint = '127.0.0.1:1'"
                        " WHERE tenant_id = 'ville-demo'"
                    )
                done = run_cli(demo.address, None, "audit", "verify", token=inspector)
                assert done.returncode == 1, done.stdout + done.stderr
                assert "registry_projection_mismatch" in done.stdout, done.stdout
                assert "endpoint differs from the trail" in done.stdout, done.stdout
        finally:
            assert demo.stop() == 0, demo.log_path.read_text()
