"""The events made once for the query and export tests, and the reference they are checked with."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from aval.audit_store import trail
from aval.service.audit import inspection
from aval.service.decisions import proposals, reviewing
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.audit import QueryEventsIn
from aval.service.requests.decisions import ClaimIn, DecideIn, ProposeIn
from aval.verifier.events import AuditEvent

# Every decision of these tests is suggested by this AI system: the filter that keeps the
# other tests' events of the shared database out of the comparisons.
SYSTEM = f"modele-test-{uuid.uuid4().hex[:8]}"
BOTH = ["ville-a", "ville-b"]


@dataclass
class Made:
    """The decisions these tests made, and everything a reference filter needs to know."""

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


@pytest.fixture(scope="package")
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


# Each filter, and the reference that says which of these events it keeps.
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
