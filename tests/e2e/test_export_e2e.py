"""Exports through the `aval` command line and the SDK, compared with QueryEvents (I5, I6)."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from aval.clients import AsyncClient
from aval.clients.cli import export as cli_export
from aval.clients.cli.messages import Messages
from aval.clients.cli.parser import build_parser
from aval.clients.sdk import audit_calls as _audit_calls
from aval.clients.sdk.errors import PermissionDeniedError
from aval.v1 import audit_pb2, common_pb2
from tests.support import ServerProcess, token_of

from .conftest import ClientOf
from .helpers import all_events, propose_kwargs, run_cli

pytestmark = pytest.mark.e2e

SYSTEM = f"modele-e2e-{uuid.uuid4().hex[:8]}"
BOTH = "ville-a,ville-b"


@pytest.fixture(scope="module")
def decisions(client_of: ClientOf) -> list[str]:
    """Three decisions suggested by SYSTEM: amended in ville-a, approved in ville-a, rejected
    in ville-b."""
    app_a, app_b = client_of("app-a"), client_of("app-b")
    amended = app_a.propose(**propose_kwargs(model=f"{SYSTEM}@1.0")).decision.id
    client_of("sup-a1").decide(
        amended, verdict="amend", amended_output={"accord": False}, justification="barème"
    )
    client_of("sup-a2").decide(amended, verdict="approve")
    approved = app_a.propose(**propose_kwargs("voirie.signalement", model=f"{SYSTEM}@2.0"))
    client_of("sup-a3").decide(approved.decision.id, verdict="approve")
    rejected = app_b.propose(**propose_kwargs("voirie.signalement", model=f"{SYSTEM}@2.0"))
    client_of("sup-b").decide(rejected.decision.id, verdict="reject", justification="hors champ")
    return [amended, approved.decision.id, rejected.decision.id]


def as_export(event: audit_pb2.AuditEvent) -> dict[str, Any]:
    """What an exported line must hold for an event QueryEvents returned."""
    canonical = json.loads(event.canonical)
    return {
        "tenant": event.tenant,
        "seq": event.seq,
        "event_id": event.event_id,
        "occurred_at": canonical["occurred_at"],
        "decision_id": event.decision_id,
        "kind": event.kind,
        "actor_id": event.actor_id,
        "actor_type": event.actor_type,
        "trace_id": event.trace_id,
        "schema_version": event.schema_version,
        "data": canonical["data"],
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "canonical": base64.b64encode(event.canonical).decode(),
    }


def test_export_to_a_file_matches_query_events(
    server: ServerProcess, client_of: ClientOf, decisions: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "piste.jsonl"
    done = run_cli(
        server.address,
        "insp-pool",
        "audit",
        "export",
        "--tenants",
        BOTH,
        "--ai-system",
        SYSTEM,
        "--out",
        str(out),
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    queried = all_events(client_of("insp-pool"), tenants=["ville-a", "ville-b"], ai_system=SYSTEM)
    assert len(queried) == 10  # 4 + 3 in ville-a (proposed, reviews, finalized), 3 in ville-b
    assert done.stdout.strip() == f"{len(queried)} événement(s) exporté(s) dans {out}"
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [as_export(e) for e in queried]
    assert {line["decision_id"] for line in lines} == set(decisions)
    assert not list(tmp_path.glob("*.part"))


def test_csv_export_to_stdout_with_filters(
    server: ServerProcess, client_of: ClientOf, decisions: list[str]
) -> None:
    filters = ["--ai-system", SYSTEM, "--overrode", "yes", "--since", "2000-01-01"]
    done = run_cli(
        server.address,
        "insp-pool",
        "audit",
        "export",
        "--tenants",
        BOTH,
        "--format",
        "csv",
        *filters,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    queried = all_events(
        client_of("insp-pool"), tenants=["ville-a", "ville-b"], ai_system=SYSTEM, overrode=True
    )
    assert {r["decision_id"] for r in rows} == {decisions[0], decisions[2]}
    assert [(r["tenant"], int(r["seq"])) for r in rows] == [(e.tenant, e.seq) for e in queried]
    assert [json.loads(r["data"]) for r in rows] == [
        json.loads(e.canonical)["data"] for e in queried
    ]


def test_events_command_takes_the_same_filters(server: ServerProcess, decisions: list[str]) -> None:
    done = run_cli(
        server.address,
        "insp-pool",
        "--json",
        "audit",
        "events",
        "--tenants",
        BOTH,
        "--ai-system",
        SYSTEM,
        "--verdict",
        "reject",
        "--model-version",
        "2.0",
    )
    assert done.returncode == 0, done.stderr
    page = json_format.Parse(done.stdout, audit_pb2.QueryEventsResponse())
    assert [(e.tenant, e.kind, e.decision_id) for e in page.events] == [
        ("ville-b", "review.recorded", decisions[2])
    ]
    table = run_cli(
        server.address,
        "insp-pool",
        "audit",
        "events",
        "--tenants",
        BOTH,
        "--ai-system",
        SYSTEM,
        "--kind",
        "decision.finalized",
    )
    assert table.returncode == 0, table.stderr
    assert "COLLECTIVITÉ" in table.stdout and "ville-b" in table.stdout


def test_a_refused_export_writes_nothing_I5(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "refus.jsonl"
    done = run_cli(
        server.address, "insp-a", "audit", "export", "--tenants", BOTH, "--out", str(out)
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("erreur: action non autorisée"), done.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
    bad = run_cli(server.address, "insp-a", "audit", "export", "--since", "hier")
    assert bad.returncode == 2 and "hier" in bad.stderr


def test_the_sdk_streams_exports(client_of: ClientOf, decisions: list[str]) -> None:
    chunks = list(client_of("insp-a").export_events(ai_system=SYSTEM, format="csv"))
    assert chunks[-1].events == 7
    assert b"".join(c.chunk for c in chunks).count(b"\r\n") == 8
    with pytest.raises(PermissionDeniedError):
        list(client_of("insp-b").export_events(tenant="ville-a"))

    async def jsonl(address: str) -> list[bytes]:
        async with AsyncClient(address, token_of("insp-b")) as client:
            return [c.chunk async for c in client.export_events(ai_system=SYSTEM)]

    body = b"".join(asyncio.run(jsonl(client_of("insp-b").address)))
    assert [json.loads(line)["decision_id"] for line in body.splitlines()] == [decisions[2]] * 3


def test_the_command_line_reads_every_filter() -> None:
    line = (
        "audit export --tenants ville-a,ville-b --since 2025-06-01 "
        "--until 2025-07-01T08:30:00+02:00 --type aides.attribution --ai-system bareme "
        "--model-version 2026.1 --reviewer sup-a1 --verdict amend --overrode no "
        "--format csv --out x.csv"
    )
    args = build_parser(Messages("fr")).parse_args(line.split())
    filters = cli_export.filters_of(args)
    assert filters["tenants"] == ["ville-a", "ville-b"]
    assert filters["since"] == datetime(2025, 6, 1).astimezone()  # a date: local midnight
    assert filters["until"] == datetime(2025, 7, 1, 6, 30, tzinfo=UTC)
    assert (filters["decision_type"], filters["ai_system"], filters["model_version"]) == (
        "aides.attribution",
        "bareme",
        "2026.1",
    )
    assert (filters["reviewer"], filters["verdict"], filters["overrode"]) == (
        "sup-a1",
        "amend",
        False,
    )
    assert (args.format, args.out) == ("csv", "x.csv")
    request = _audit_calls.export_request(format=args.format, **filters)
    assert request.format == audit_pb2.EXPORT_FORMAT_CSV
    assert request.query.HasField("overrode") and not request.query.overrode
    assert request.query.verdict == common_pb2.VERDICT_AMEND
    events = build_parser(Messages("fr")).parse_args(["audit", "events", "--overrode", "yes"])
    assert cli_export.filters_of(events)["overrode"] is True
