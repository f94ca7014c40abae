"""Every fact the service shows is checked against the trail, and the review policy is re-proved
from the events alone, online and offline (I1, I3; issue 12, items 1 and 2)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from aval.audit_store import verify, verify_facts
from aval.audit_store.verify_ranges import RangePass
from aval.clients import Client
from aval.v1 import audit_pb2
from aval.verifier.chain import canonical_json, chain_hash, utc_iso
from aval.verifier.chain_verifier import ChainVerifier
from tests.support import ServerProcess, token_of

from .helpers import SUGGESTION, propose_kwargs, run_cli, superuser

pytestmark = pytest.mark.e2e

NO_SERVER = "127.0.0.1:9"  # offline verification must not need a server


@dataclass
class World:
    server: ServerProcess
    url: str
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, principal: str) -> Client:
        return Client(self.server.address, token_of(principal), timeout=20)

    def verify(self) -> audit_pb2.VerifyChainResponse:
        with self.client("insp-a") as inspector:
            return inspector.verify_chain()


@pytest.fixture(scope="module")
def world(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Its own database and gateway, with decisions in every shape a caller is shown."""
    url = new_database()
    server = ServerProcess.start(url, tmp_path_factory.mktemp("e2e-facts"), name="facts")
    w = World(server, url)
    with w.client("app-a") as app, w.client("sup-a1") as s1, w.client("sup-a2") as s2:
        approved = app.propose(**propose_kwargs("voirie.signalement")).decision
        s1.claim(approved.id)
        s1.decide(approved.id, verdict="approve")
        amended = app.propose(**propose_kwargs()).decision
        s1.decide(
            amended.id,
            verdict="amend",
            amended_output={"accord": True, "montant_centimes": 9000},
            justification="barème 2026",
        )
        s2.decide(amended.id, verdict="approve")
        claimed = app.propose(**propose_kwargs()).decision
        s2.claim(claimed.id, lease_seconds=600)
        half = app.propose(**propose_kwargs()).decision  # needs two approvals, has one
        s1.decide(half.id, verdict="approve")
        w.ids = {"approved": approved.id, "amended": amended.id, "claimed": claimed.id}
        w.ids["half"] = half.id
    with w.client("insp-a") as inspector:
        inspector.create_checkpoint()
    report = w.verify()
    assert report.ok, list(report.problems)
    yield w
    assert server.stop() == 0


@contextlib.contextmanager
def restored(url: str) -> Iterator[None]:
    """Puts ville-a's decisions, reviews, events, chain head and checkpoints back as they were
    (a bundle exported meanwhile has the service sign a checkpoint of the trail as it is)."""
    tables = ("decisions", "reviews", "audit_events", "chain_heads", "checkpoints")
    with psycopg.connect(url) as conn:
        saved = {
            t: conn.execute(f"SELECT * FROM aval.{t} WHERE tenant_id = 'ville-a'").fetchall()
            for t in tables
        }
    try:
        yield
    finally:
        with superuser(url) as conn:
            for table in tables:
                conn.execute(f"DELETE FROM aval.{table} WHERE tenant_id = 'ville-a'")
                rows = saved[table]
                if rows:
                    marks = ", ".join(["%s"] * len(rows[0]))
                    with conn.cursor() as cur:
                        cur.executemany(
                            f"INSERT INTO aval.{table} VALUES ({marks})",
                            [tuple(map(_as_stored, row)) for row in rows],
                        )


def _as_stored(value: Any) -> Any:
    """A value read back, ready to be written again: JSON objects as jsonb (lists stay
    PostgreSQL arrays, as reviewer_roles is)."""
    return Jsonb(value) if isinstance(value, dict) else value


# Each fact a caller is shown, the decision it is edited on, and the edit.
EDITS: dict[str, tuple[str, str]] = {
    "decision_type": ("approved", "decision_type = 'voirie.autre'"),
    "subject_ref": ("approved", "subject_ref = subject_ref || '-x'"),
    "input_sha256": ("approved", "input_sha256 = repeat('0', 64)"),
    "suggestion": ("approved", "suggestion = jsonb_set(suggestion, '{confidence}', '0.99')"),
    "proposer_id": ("approved", "proposer_id = 'app-b'"),
    "idempotency_key": ("approved", "idempotency_key = idempotency_key || '-x'"),
    "policy_revision": ("approved", "policy_revision = policy_revision || '-x'"),
    "required_approvals": ("approved", "required_approvals = required_approvals + 1"),
    "rejections_to_close": ("approved", "rejections_to_close = rejections_to_close + 1"),
    "deadline": ("approved", "deadline = deadline + interval '1 day'"),
    "created_at": ("approved", "created_at = created_at - interval '1 hour'"),
    "trace_id": ("approved", "trace_id = repeat('f', 32)"),
    "advice_status": ("approved", "advice_status = 'SUGGESTED'"),
    "advice_reason": ("approved", "advice_reason = 'forged'"),
    "advice_detail": ("approved", "advice_detail = 'forged'"),
    "approvals": ("approved", "approvals = approvals + 1"),
    "rejections": ("approved", "rejections = rejections + 1"),
    "pending_output": ("amended", "pending_output = '{\"accord\": false}'"),
    "outcome": ("amended", 'outcome = \'{"accord": true, "montant_centimes": 99000}\''),
    "updated_at": ("amended", "updated_at = updated_at + interval '1 hour'"),
    "finalized_at": ("amended", "finalized_at = finalized_at + interval '1 hour'"),
    "claimed_by": ("claimed", "claimed_by = 'sup-a3'"),
    "claim_expires_at": ("claimed", "claim_expires_at = claim_expires_at + interval '1 hour'"),
}


def _problems(report: audit_pb2.VerifyChainResponse) -> list[tuple[str, str, str]]:
    return sorted((p.kind, p.decision_id, p.detail) for p in report.problems)


def cli_verify(world: World, *options: str) -> tuple[int, str]:
    done = run_cli(world.server.address, "insp-a", *options, "audit", "verify")
    return done.returncode, done.stdout


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edited_shown_column_of_a_decision_is_named_I3(world: World, column: str) -> None:
    which, edit = EDITS[column]
    decision = world.ids[which]
    with restored(world.url):
        with superuser(world.url) as conn:
            changed = conn.execute(
                f"UPDATE aval.decisions SET {edit} WHERE tenant_id = 'ville-a' AND id = %s",
                (decision,),
            )
            assert changed.rowcount == 1
        assert _problems(world.verify()) == [
            ("decision_projection_mismatch", decision, f"{column} differs from the trail")
        ]
        status, out = cli_verify(world)
        assert status == 1 and "decision_projection_mismatch" in out and column in out, out
    assert world.verify().ok


def test_an_edited_review_is_named_I3(world: World) -> None:
    decision = world.ids["amended"]
    with restored(world.url):
        with superuser(world.url) as conn:
            conn.execute(
                "UPDATE aval.reviews SET justification = 'autre motif'"
                " WHERE tenant_id = 'ville-a' AND decision_id = %s AND reviewer_id = 'sup-a1'",
                (decision,),
            )
        assert _problems(world.verify()) == [
            ("review_projection_mismatch", decision, "reviews differ from the trail")
        ]
    assert world.verify().ok


def _forge_final_approval(conn: psycopg.Connection[Any], decision: str) -> int:
    """Appends a well-chained `decision.finalized` that approves `decision` with one approval
    of the two its proposal required, and makes its row agree: only the policy can tell."""
    seq, prev = conn.execute(
        "SELECT seq, hash FROM aval.audit_events WHERE tenant_id = 'ville-a'"
        " ORDER BY seq DESC LIMIT 1"
    ).fetchone() or (0, b"")
    state, version, revision = conn.execute(
        "SELECT state, version, policy_revision FROM aval.decisions"
        " WHERE tenant_id = 'ville-a' AND id = %s",
        (decision,),
    ).fetchone() or ("", 0, "")
    assert state == "PENDING_REVIEW"
    moment = datetime.now(UTC).replace(microsecond=123456) - timedelta(seconds=1)
    event_id = str(uuid.uuid4())
    body = {
        "schema_version": 1,
        "event_id": event_id,
        "tenant": "ville-a",
        "occurred_at": utc_iso(moment),
        "decision_id": decision,
        "kind": "decision.finalized",
        "actor": {"id": "sup-a1", "type": "human"},
        "trace_id": "",
        "data": {
            "outcome": SUGGESTION,
            "validators": ["sup-a1"],
            "rejected_by": [],
            "policy_revision": revision,
            "decision_state": "APPROVED",
            "decision_version": version + 1,
        },
    }
    canonical = canonical_json(body)
    digest = chain_hash(bytes(prev), seq + 1, canonical)
    assert digest == hashlib.sha256(bytes(prev) + (seq + 1).to_bytes(8, "big") + canonical).digest()
    conn.execute(
        "INSERT INTO aval.audit_events (tenant_id, seq, event_id, occurred_at, decision_id, kind,"
        " actor_id, actor_type, trace_id, schema_version, canonical, prev_hash, hash)"
        " VALUES ('ville-a', %s, %s, %s, %s, 'decision.finalized', 'sup-a1', 'human', '', 1,"
        " %s, %s, %s)",
        (seq + 1, event_id, moment, decision, canonical, prev, digest),
    )
    conn.execute(
        "UPDATE aval.chain_heads SET seq = %s, hash = %s WHERE tenant_id = 'ville-a'",
        (seq + 1, digest),
    )
    conn.execute(
        "UPDATE aval.decisions SET state = 'APPROVED', version = version + 1, outcome = %s,"
        " finalized_at = %s, updated_at = %s WHERE tenant_id = 'ville-a' AND id = %s",
        (json.dumps(SUGGESTION), moment, moment, decision),
    )
    return seq + 1


def test_a_final_approval_short_of_its_quorum_is_named_online_and_offline_I1(
    world: World, tmp_path: Path
) -> None:
    decision = world.ids["half"]
    with restored(world.url):
        with superuser(world.url) as conn:
            forged = _forge_final_approval(conn, decision)
        assert _problems(world.verify()) == [
            (
                "policy_quorum_not_met",
                decision,
                "APPROVED with 1 distinct approver(s); its proposal required 2",
            ),
            # The forged event is covered by no seal of the service (docs/signing.md).
            (
                "unsealed_events",
                "",
                f"events from seq {forged} on are covered by no seal of this service: "
                "appended behind its back (or their seals removed); they are never signed",
            ),
        ]
        assert [p.seq for p in world.verify().problems] == [forged, forged]
        status, out = cli_verify(world)
        assert status == 1 and "policy_quorum_not_met" in out, out

        folder = tmp_path / "bundle"
        exported = run_cli(
            world.server.address, "insp-a", "audit", "export", "--bundle", str(folder)
        )
        assert exported.returncode == 0, exported.stderr
        key = world.server.public_key.hex()
        offline = run_cli(
            NO_SERVER, None, "audit", "verify", "--offline", str(folder), "--public-key", key
        )
        assert offline.returncode == 1, offline.stdout + offline.stderr
        assert "policy_quorum_not_met" in offline.stdout and decision in offline.stdout
    assert world.verify().ok


def test_the_untouched_trail_verifies_clean_online_and_offline(
    world: World, tmp_path: Path
) -> None:
    assert world.verify().ok
    status, out = cli_verify(world)
    assert status == 0, out
    folder = tmp_path / "bundle"
    exported = run_cli(world.server.address, "insp-a", "audit", "export", "--bundle", str(folder))
    assert exported.returncode == 0, exported.stderr
    key = world.server.public_key.hex()
    offline = run_cli(
        NO_SERVER, None, "audit", "verify", "--offline", str(folder), "--public-key", key
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr


# -- the two ways of reading the events agree ---------------------------------------------------


async def _facts_both_ways(
    url: str,
) -> tuple[
    tuple[list[verify_facts.FactsFinding], int], tuple[list[verify_facts.FactsFinding], int]
]:
    """ville-a's facts findings read from the columns the chain check proved (what verification
    does when every range was whole) and from the events' bytes alone, in one snapshot."""
    conn = await psycopg.AsyncConnection.connect(url)
    async with conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await conn.execute("SET search_path = aval")
        verifier = ChainVerifier("ville-a")
        ranges = RangePass(verifier, [conn], "ville-a", 1000)
        stored = await ranges.run(None, 10_000)
        assert ranges.whole, "the chain check found every range whole"
        proven = verify.trail_states(stored, verifier.last_state)
        by_columns = await verify_facts.facts_findings([conn], "ville-a", proven)
        by_bytes = await verify_facts.facts_findings([conn], "ville-a")
    assert by_columns[1] == by_bytes[1] == 0
    return by_columns, by_bytes


@pytest.mark.parametrize("column", sorted(EDITS))
def test_the_facts_read_from_columns_or_bytes_agree_I3(world: World, column: str) -> None:
    which, edit = EDITS[column]
    with restored(world.url):
        with superuser(world.url) as conn:
            conn.execute(
                f"UPDATE aval.decisions SET {edit} WHERE tenant_id = 'ville-a' AND id = %s",
                (world.ids[which],),
            )
        by_columns, by_bytes = asyncio.run(_facts_both_ways(world.url))
        assert by_columns == by_bytes
        assert [(f.decision_id, f.differing) for f in by_columns[0]] == [
            (world.ids[which], (column,))
        ]


def test_a_forged_final_approval_is_judged_alike_from_columns_or_bytes_I1(world: World) -> None:
    decision = world.ids["half"]
    with restored(world.url):
        with superuser(world.url) as conn:
            _forge_final_approval(conn, decision)
        by_columns, by_bytes = asyncio.run(_facts_both_ways(world.url))
        assert by_columns == by_bytes
        assert [(f.decision_id, [kind for kind, _, _ in f.policy]) for f in by_columns[0]] == [
            (decision, ["policy_quorum_not_met"])
        ]


# Edits of a decision's stored reviews, each on the amended decision (two verdicts).
REVIEW_EDITS = {
    "deleted": "DELETE FROM aval.reviews WHERE tenant_id = 'ville-a' AND decision_id = %s"
    " AND reviewer_id = 'sup-a2'",
    "added": "INSERT INTO aval.reviews SELECT tenant_id, decision_id, 'sup-a3', reviewer_roles,"
    " verdict, justification, amended_output, decided_at FROM aval.reviews"
    " WHERE tenant_id = 'ville-a' AND decision_id = %s AND reviewer_id = 'sup-a2'",
    "reviewer": "UPDATE aval.reviews SET reviewer_id = 'sup-a3' WHERE tenant_id = 'ville-a'"
    " AND decision_id = %s AND reviewer_id = 'sup-a2'",
    "roles": "UPDATE aval.reviews SET reviewer_roles = '{admin}' WHERE tenant_id = 'ville-a'"
    " AND decision_id = %s AND reviewer_id = 'sup-a2'",
    "verdict": "UPDATE aval.reviews SET verdict = 'REJECT' WHERE tenant_id = 'ville-a'"
    " AND decision_id = %s AND reviewer_id = 'sup-a2'",
    "amended_output": "UPDATE aval.reviews SET amended_output = '{\"accord\": false}'"
    " WHERE tenant_id = 'ville-a' AND decision_id = %s AND reviewer_id = 'sup-a1'",
    "decided_at": "UPDATE aval.reviews SET decided_at = decided_at + interval '1 second'"
    " WHERE tenant_id = 'ville-a' AND decision_id = %s AND reviewer_id = 'sup-a2'",
}


@pytest.mark.parametrize("edit", sorted(REVIEW_EDITS))
def test_a_stored_review_deleted_added_or_edited_is_named_I3(world: World, edit: str) -> None:
    decision = world.ids["amended"]
    with restored(world.url):
        with superuser(world.url) as conn:
            changed = conn.execute(REVIEW_EDITS[edit], (decision,))
            assert changed.rowcount == 1
        assert _problems(world.verify()) == [
            ("review_projection_mismatch", decision, "reviews differ from the trail")
        ]
        by_columns, by_bytes = asyncio.run(_facts_both_ways(world.url))
        assert by_columns == by_bytes
    assert world.verify().ok
