"""The console's pages, by audience: each module gives `routes(console)`."""

from __future__ import annotations

from aval.console.app import PageRoutes
from aval.console.pages import inspector, supervisor

PAGES: tuple[PageRoutes, ...] = (supervisor.routes, inspector.routes)
