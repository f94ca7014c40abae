"""Evaluation and usage of AI versions against the human decisions, and the `aval admin`
commands, against the real server process."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aval.audit_store import Store, decisions
from aval.audit_store.records import (
    AdviceStatus,
    AICall,
    CallRole,
    Decision,
)
from aval.policies import ReviewPolicy, load_policy_dir
from aval.service.decisions.advice import AdviceResult
from aval.service.decisions.proposals import proposed_event
from aval.service.identity import Principal, actor_of
from aval.v1 import admin_pb2
from tests.in_process import ai_proposal
from tests.support import TEST_SIGNING_KEY, write_config

from ..conftest import ClientOf
from ..helpers import run_cli
from .helpers import a_name, registered, trail_is_clean

pytestmark = pytest.mark.e2e


VOIRIE, PROPRETE = {"service": "voirie"}, {"service": "propreté"}
# (primary status, output, latency), (shadow output, latency): what the AI answered.
CALLS = [
    (("SUGGESTED", VOIRIE, 100), (VOIRIE, 40)),
    (("SUGGESTED", VOIRIE, 200), (PROPRETE, 60)),
    (("SUGGESTED", VOIRIE, 300), (VOIRIE, 80)),
    (("UNAVAILABLE", None, 1000), ({"service": "éclairage"}, 90)),
]


def ai_call(
    d: Decision, name: str, role: CallRole, version: str, status: str, out: Any, ms: int
) -> AICall:
    made = status != "UNAVAILABLE"
    return AICall(
        id=uuid.uuid4(),
        decision_id=d.id,
        decision_type=d.decision_type,
        ai_system=name,
        model_version=version,
        role=role,
        status=AdviceStatus(status),
        detail="" if made else "timeout",
        started_at=d.created_at,
        latency_ms=ms,
        attempts=1 if made else 2,
        input_tokens=100 if made else None,
        output_tokens=20 if made else None,
        energy_mwh=1500,
        cost_micro_eur=2500,
        output=out,
    )


async def propose_with_calls(url: str, name: str, policy: ReviewPolicy) -> list[str]:
    """Proposals of app-a with the AI calls made for them and their `ai.consulted` events,
    written by `record_proposals` (the SQL function record_proposals_with_calls) as the gateway
    does; returns their ids."""
    app = Principal("app-a", "ville-a", {"ville-a": frozenset({"application"})})
    store = Store(url, min_size=1, max_size=1)
    store.sealer = TEST_SIGNING_KEY.sealer()  # sealed as the gateway seals (docs/signing.md)
    await store.open()
    ids = []
    try:
        for (status, output, latency), (shadow_output, shadow_latency) in CALLS:
            now = datetime.now(UTC)
            d = ai_proposal("ville-a", policy, app, name, "1.0", status, output, now)

            calls = (
                ai_call(d, name, CallRole.PRIMARY, "1.0", status, output, latency),
                ai_call(
                    d, name, CallRole.SHADOW, "2.0", "SUGGESTED", shadow_output, shadow_latency
                ),
            )
            # The proposal and one ai.consulted event per call, as the gateway writes them (I2).
            consulted = AdviceResult(d.advice_status, calls=calls).events(d.id)
            made = [proposed_event(d, actor_of(app)), *consulted]
            events = [e.canonical("ville-a", now, "") for e in made]
            async with store.transaction() as conn:
                assert await decisions.record_proposals(conn, [(d, events, calls)]) == {d.id}
            ids.append(str(d.id))
    finally:
        await store.close()
    return ids


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    (line,) = done.stderr.splitlines()
    return line


def test_evaluate_and_usage_compare_versions_with_the_human_decisions(
    client_of: ClientOf, database_url: str, tmp_path: Path
) -> None:
    a = client_of("admin-a")
    name = a_name()
    registered(a, name, "1.0", "2.0")
    policy = load_policy_dir(write_config(tmp_path)[0]).get("ville-a", "voirie.signalement")
    assert policy is not None
    start = datetime.now(UTC)
    approved, amended, rejected, _pending = asyncio.run(
        propose_with_calls(database_url, name, policy)
    )
    supervisor = client_of("sup-a1")
    supervisor.decide(approved, verdict="approve")
    supervisor.decide(amended, verdict="amend", amended_output=PROPRETE, justification="photo")
    supervisor.decide(rejected, verdict="reject", justification="doublon")

    primary, shadow = a.evaluate(name, since=start, decision_type="voirie.signalement").versions
    assert (primary.model_version, primary.role) == ("1.0", admin_pb2.CALL_ROLE_PRIMARY)
    assert (primary.calls, primary.suggestions, primary.unavailable, primary.decided) == (
        4,
        3,
        1,
        3,
    )
    assert primary.agreed == 1 and round(primary.override_rate, 4) == round(2 / 3, 4)
    assert (primary.latency_p50.ToMilliseconds(), primary.latency_p90.ToMilliseconds()) == (
        250,
        790,
    )
    assert (primary.input_tokens, primary.output_tokens, primary.energy_mwh) == (300, 60, 6000)
    assert (shadow.model_version, shadow.role) == ("2.0", admin_pb2.CALL_ROLE_SHADOW)
    assert (shadow.calls, shadow.suggestions, shadow.decided, shadow.agreed) == (4, 4, 3, 2)
    assert round(shadow.override_rate, 4) == round(1 / 3, 4)  # only the rejected one
    assert client_of("insp-a").evaluate(name).versions == [primary, shadow]
    assert a.evaluate(name, decision_type="aides.attribution").versions == []

    rows = [r for r in client_of("insp-a").get_usage(since=start).rows if r.ai_system == name]
    assert [(r.model_version, r.calls, r.failures, r.cost_micro_eur) for r in rows] == [
        ("1.0", 4, 1, 10_000),
        ("2.0", 4, 0, 10_000),
    ]
    assert rows[0].total_latency.ToMilliseconds() == 1600 and rows[0].tenant == "ville-a"

    address = a.address
    since = start.isoformat()
    text = ok(run_cli(address, "admin-a", "admin", "evaluate", name, "--since", since))
    pinned_row, shadow_row = [line.split() for line in text.splitlines()[1:3]]
    assert pinned_row[:8] == ["1.0", "épinglée", "4", "3", "1/0", "3", "33", "%"]
    assert shadow_row[:8] == ["2.0", "fantôme", "4", "4", "0/0", "3", "67", "%"]
    document = json.loads(
        ok(run_cli(address, "insp-a", "--json", "admin", "usage", "--since", since))
    )
    assert {r["aiSystem"] for r in document["rows"]} >= {name}
    usage = ok(run_cli(address, "insp-a", "--lang", "en", "admin", "usage", "--since", since))
    assert "6.000 Wh" in usage and "0.010000 €" in usage


def test_the_admin_commands_through_the_command_line(client_of: ClientOf) -> None:
    address = client_of("admin-a").address
    name = a_name()

    def aval(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(address, who, "admin", *args)

    out = ok(
        aval(
            "admin-a",
            *("systems", "register", name, "--kind", "openai"),
            *("--endpoint", "http://127.0.0.1:11434/v1", "--model", "mistral-small"),
            *("--api-key-env", "ALBERT_API_KEY", "--timeout", "30s"),
            *("--energy-mwh-per-call", "1500", "--reason", "mise en service"),
        )
    )
    assert f"Système d'IA {name} enregistré." in out and "API compatible OpenAI" in out
    out = ok(
        aval(
            "admin-a",
            *("systems", "register", name, "--kind", "openai"),
            *("--endpoint", "http://127.0.0.1:8000/v1", "--disable", "--reason", "migration"),
        )
    )
    assert f"Système d'IA {name} mis à jour." in out
    (system,) = [s for s in client_of("admin-a").list_ai_systems().ai_systems if s.name == name]
    # The options left out kept their registered values.
    assert (system.endpoint, system.model, system.api_key_env) == (
        "http://127.0.0.1:8000/v1",
        "mistral-small",
        "ALBERT_API_KEY",
    )
    assert (system.enabled, system.timeout.seconds, system.energy_mwh_per_call) == (False, 30, 1500)

    out = ok(
        aval(
            "admin-a",
            *("versions", "add", name, "2026.1", "--purpose", "orienter les signalements"),
            *("--limit", "ne lit pas les photos", "--limit", "français seulement"),
            *("--accuracy-note", "0,91 sur 120 signalements", "--metric", "accuracy=0.91"),
        )
    )
    assert f"Version 2026.1 de {name} enregistrée." in out
    assert "limite : ne lit pas les photos" in out and "limite : français seulement" in out
    missing = refusal(aval("admin-a", "pin", name, "9.9", "--reason", "essai"))
    assert missing.startswith("erreur: refusé : la version '9.9'")
    assert f"aval admin versions add {name} 9.9" in missing

    pin = json.loads(ok(aval("admin-a", "--json", "pin", name, "2026.1", "--reason", "essai")))
    assert pin["id"] in ok(aval("admin-a2", "pins", "--pending"))
    own = refusal(aval("admin-a", "pins", "approve", pin["id"], "--reason", "ok"))
    assert "quatre yeux" in own
    out = ok(aval("admin-a2", "pins", "approve", pin["id"], "--reason", "relu"))
    assert out.strip() == f"Épinglage approuvé : {name} utilise désormais la version 2026.1."

    assert f"IA arrêtée : le système d'IA {name}." in ok(
        aval("admin-a", "stop", "--ai-system", name, "--reason", "dérive constatée")
    )
    assert "dérive constatée" in ok(aval("admin-a2", "stops"))
    assert f"IA rétablie : le système d'IA {name}." in ok(
        aval("admin-a2", "resume", "--ai-system", name, "--reason", "corrigé")
    )
    assert "Rien à rétablir" in ok(aval("admin-a2", "resume", "--ai-system", name, "--reason", "r"))
    assert f"Aucun appel enregistré pour {name}." in ok(aval("admin-a", "evaluate", name))
    english = ok(run_cli(address, "admin-a", "--lang", "en", "admin", "systems", "list"))
    assert re.search(rf"^AI system\s+{name} — OpenAI-compatible API$", english, re.MULTILINE)
    assert re.search(r"^Pinned version\s+2026\.1$", english, re.MULTILINE)
    denied = refusal(aval("sup-a1", "systems", "list"))
    assert denied.startswith("erreur: action non autorisée")
    trail_is_clean(client_of)
