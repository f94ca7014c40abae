"""The inspectors' pages (issue 17, item 6): their home, the event search, a decision's
dossier and the citizen's explanation; the trail's verification, statistics and downloads
come from the modules this one gathers. Every read goes through the gateway as the person,
with the purpose they give (the access journal's "why")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aval.console.app import Console
from aval.console.markdown import blocks
from aval.console.pages.inspection_downloads import Downloads
from aval.console.pages.inspection_filters import (
    FIELDS,
    EventFilters,
    Page,
    as_inspector,
    enum_word,
    page_routes,
    paris_time,
    short_json,
    valid_decision_id,
)
from aval.console.pages.inspection_proofs import checked, decision_bundle
from aval.console.pages.inspection_stats import stats_page
from aval.console.pages.inspection_verify import VerificationPages

ROLE = "inspector"
PAGE_SIZE = 50


def routes(console: Console) -> Sequence[BaseRoute]:
    """The routes of every inspector page, under /inspection."""
    console.templates.filters["paris"] = paris_time
    console.templates.filters["short_json"] = short_json
    console.templates.filters["word"] = enum_word
    pages = InspectorPages(console)
    verification = VerificationPages(console)
    downloads = Downloads(console)
    table: list[tuple[str, Page, str]] = [
        ("/inspection", pages.home, "GET"),
        ("/inspection/evenements", pages.events, "GET"),
        ("/inspection/decisions/{id}", pages.dossier, "GET"),
        ("/inspection/decisions/{id}/explication", pages.explanation, "GET"),
        ("/inspection/decisions/{id}/lot", pages.bundle, "POST"),
        ("/inspection/verification", verification.form, "GET"),
        ("/inspection/verification", verification.start, "POST"),
        ("/inspection/verification/{run}", verification.report, "GET"),
        ("/inspection/verification/{run}/flux", verification.stream, "GET"),
        ("/inspection/statistiques", stats_page(console), "GET"),
        ("/inspection/telechargements/evenements", downloads.events, "POST"),
        ("/inspection/telechargements/lot", downloads.bundle, "POST"),
    ]
    return page_routes(console, table)


def _purpose(request: Request) -> str | None:
    value = request.query_params.get("purpose", "").strip()
    return value[:200] or None


class InspectorPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def home(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        return self.console.render(request, "inspection/home.html", session)

    async def events(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        asked = EventFilters.read(request.query_params)
        context: dict[str, Any] = {"asked": asked, "fields": FIELDS, "errors": asked.errors}
        if asked.errors:
            return self.console.render(
                request, "inspection/events.html", session, status=400, **context
            )
        if "search" in request.query_params:
            token = request.query_params.get("page", "")
            client = await as_inspector(self.console, session, asked.purpose)
            found = await client.query_events(
                page_size=PAGE_SIZE, page_token=token[:512], **asked.query()
            )
            context["found"] = found.events
            context["next_page"] = (
                asked.query_string(search="1", page=found.next_page_token)
                if found.next_page_token
                else ""
            )
        return self.console.render(request, "inspection/events.html", session, **context)

    async def dossier(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        decision_id = _decision_id(request)
        purpose = _purpose(request)
        client = await as_inspector(self.console, session, purpose)
        explained = await client.explain_decision(
            decision_id, audience="inspector", language=session.language, text_format="markdown"
        )
        d = explained.decision
        listed = await client.list_checkpoints(tenant=d.tenant, newest=1)  # for its key
        return self.console.render(
            request,
            "inspection/dossier.html",
            session,
            decision=d,
            input_rows=_rows(d.input),
            suggestion=MessageToDict(d.suggestion.output) if d.HasField("suggestion") else None,
            outcome=MessageToDict(d.outcome) if d.HasField("outcome") else None,
            events=explained.events,
            proofs=checked(
                explained.proofs, listed.public_key, session.language, self.console.witnesses
            ),
            witnesses_configured=bool(self.console.witnesses),
            record=blocks(explained.text),
            purpose=purpose or "",
        )

    async def bundle(self, request: Request) -> Response:
        """The decision's own bundle (.zip): record, events, proofs, their checkpoints."""
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        decision_id = _decision_id(request)
        form = await self.console.form(request, session)
        asked = EventFilters.read(form)
        client = await as_inspector(self.console, session, asked.purpose)
        explained = await client.explain_decision(
            decision_id, audience="inspector", language=session.language
        )
        citizen = await client.explain_decision(
            decision_id, audience="citizen", language=session.language
        )
        tenant = explained.decision.tenant
        listed = await client.list_checkpoints(tenant=tenant, newest=1)
        if {p.checkpoint.tree_size for p in explained.proofs} - {
            c.tree_size for c in listed.checkpoints
        }:  # a proof against an older checkpoint (rare): read them all
            listed = await client.list_checkpoints(tenant=tenant)
        archive = decision_bundle(explained, citizen.text, listed, session.language)
        name = f"aval-decision-{decision_id}.zip"
        return Response(
            archive,
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def explanation(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        decision_id = _decision_id(request)
        client = await as_inspector(self.console, session, _purpose(request))
        explained = await client.explain_decision(
            decision_id, audience="citizen", language=session.language, text_format="markdown"
        )
        return self.console.render(
            request,
            "inspection/explanation.html",
            session,
            decision=explained.decision,
            text=blocks(explained.text),
        )


def _decision_id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not valid_decision_id(value):
        raise HTTPException(404)
    return value


def _rows(struct: Any) -> list[tuple[str, str]]:
    """A Struct's fields, each value as JSON when it is not a string."""
    rows = []
    for key, value in sorted(MessageToDict(struct).items()):
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((key, shown))
    return rows
