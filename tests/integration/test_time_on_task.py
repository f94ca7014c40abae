"""Time on task: a reviewer's review time runs from the first display of the case to them
(GetCase), which their verdict records as seconds_on_task and statistics count from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aval.audit_store import trail
from aval.service.decisions import cases
from aval.service.identity import load_principals
from aval.service.requests.decisions import CaseIn
from tests.in_process import deployment_running

from .test_statistics import SetClock, World, row


async def test_review_time_runs_from_the_first_display_R6(
    new_database: Callable[..., str], config_dir: Path
) -> None:
    loaded = load_principals(config_dir / "principals.yaml")
    clock = SetClock()
    async with deployment_running(new_database(), config_dir, clock=clock) as deployment:
        w = World(deployment, {p.id: p for p, _ in loaded}, clock)
        d = await w.propose(0, "voirie.signalement", "voirie-ia@2.0", "app-a")
        w.at(100)
        request = CaseIn(decision_id=d)
        await cases.get_case(deployment, w.principals["sup-a1"], request)
        w.at(130)  # a second display is no new start
        await cases.get_case(deployment, w.principals["sup-a1"], request)
        await w.decide(142, "sup-a1", d, "approve")
        async with deployment.store.reading() as conn:
            verdict = await trail.last_event(conn, "ville-a", d, "review.recorded")
            displays = await trail.actor_events(
                conn, "ville-a", d, "sup-a1", ("review.case_displayed",)
            )
        assert verdict is not None and verdict.body["data"]["seconds_on_task"] == 42.0
        assert len(displays) == 1
        stats = await w.stats("insp-a")
        assert row(stats, "reviewer", "sup-a1").review_seconds_p50 == 42.0
