"""The console's pages, by audience: each module gives `routes(console)`."""

from __future__ import annotations

from aval.console.app import PageRoutes
from aval.console.pages import inspector, supervisor, team

PAGES: tuple[PageRoutes, ...] = (supervisor.routes, team.routes, inspector.routes)
