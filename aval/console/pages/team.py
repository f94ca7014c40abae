"""The team page of supervisors (R12): their colleagues' review figures over the last 30 days,
with the rubber-stamping flag, from GetStats as the person — the gateway gives a supervisor the
other reviewers' rows only, so a flagged reviewer's own screens never change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aval.clients.sdk.errors import AvalError
from aval.console.app import Console
from aval.texts import duration, percent

ROLE = "supervisor"
PERIOD_DAYS = 30


def routes(console: Console) -> list[BaseRoute]:
    async def team(request: Request) -> Response:
        session = console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        client = await console.gateway_for(session)
        since = datetime.now(UTC) - timedelta(days=PERIOD_DAYS)
        try:
            stats = await client.get_stats(since=since)
            rows = [r for r in stats.rows if r.dimension == "reviewer"]
            names = await client.resolve_people([r.key for r in rows]) if rows else {}
        except AvalError as error:
            return console.gateway_error(request, session, error)
        language = session.language
        shown: list[dict[str, Any]] = [
            {
                "who": names.get(r.key) or r.key,
                "verdicts": r.verdicts,
                "approval": percent(r.approved / r.verdicts, language) if r.verdicts else "—",
                "review": duration(r.review_seconds_p50, language) if r.verdicts else "—",
                "flagged": r.rubber_stamping,
            }
            for r in sorted(rows, key=lambda r: (not r.rubber_stamping, r.key))
        ]
        return console.render(request, "team.html", session, rows=shown, days=PERIOD_DAYS)

    return [Route("/equipe", team, methods=["GET"])]
