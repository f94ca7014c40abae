"""Item 6 from the other side: whatever an AI system answers, the proposal is recorded."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from aval.clients import Client
from aval.v1 import common_pb2
from tests.e2e.helpers import run_cli
from tests.support import ServerProcess

from .hostile import ADVISOR_PLACES, HOSTILE_ANSWERS, HostileAI, _type, _views

pytestmark = pytest.mark.e2e


# Item 6, from the other side: an AI system's answer is input too.


@pytest.mark.parametrize(
    "behaviour", [*HOSTILE_ANSWERS, *(f"advisor-{p.replace('_', '-')}" for p in ADVISOR_PLACES)]
)
def test_whatever_an_ai_system_answers_the_proposal_is_recorded_within_bounds_I6(
    as_: Callable[[str], Client],
    hostile_ai: HostileAI,
    hostile_advisor: int,
    gateway: ServerProcess,
    behaviour: str,
) -> None:
    logged = len(gateway.log_path.read_bytes())
    if behaviour.startswith("advisor-"):
        as_("admin-a").register_ai_system(
            f"ia-{behaviour}",
            kind="advisor",
            endpoint=f"127.0.0.1:{hostile_advisor}",
            max_attempts=1,
            energy_mwh_per_1k_tokens=5,
            cost_micro_eur_per_1k_tokens=1000,
            reason="essai",
        )
    else:
        as_("admin-a").register_ai_system(
            f"ia-{behaviour}",
            kind="openai",
            endpoint=hostile_ai.url(behaviour),
            model="m",
            max_attempts=1,
            energy_mwh_per_1k_tokens=5,
            cost_micro_eur_per_1k_tokens=1000,
            reason="essai",
        )
    reply = as_("app-a").propose(
        decision_type=_type(behaviour),
        subject_ref=f"usager:{uuid.uuid4().hex[:8]}",
        input={"description": "un lampadaire éteint"},
        idempotency_key=str(uuid.uuid4()),
    )
    decision = reply.decision
    assert decision.state == common_pb2.DECISION_STATE_PENDING_REVIEW
    seen = _views(as_, decision.id)
    assert "\x00" not in seen
    assert len(seen) < 100_000, "what a backend says is kept within bounds"
    shown = run_cli(gateway.address, "sup-a1", "decision", "show", decision.id)
    assert shown.returncode == 0, shown.stderr
    as_("admin-a").get_usage()  # the report still adds every call up
    log = gateway.log_path.read_bytes()[logged:].decode("utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


# Item 14, beyond reasons: what a person must read to know what they act on.
