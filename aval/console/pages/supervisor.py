"""Supervisors' pages: the queue (/file) with its live stream (/file/flux), and a case
(/dossier/{id}) with its actions — claim, release, record a view (decide-first), approve, amend,
reject — each bound to the version of the case the page showed (seen_version).

Every rule is the gateway's: the pages call it as the person and show its refusals, a field's
next to that field, a case that changed since it was shown re-read and shown anew.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import AvalError
from aval.console.app import Console
from aval.console.pages import amend_form, case_page, queue_stream
from aval.console.pages.showing import queue_row
from aval.console.sessions import Session

PAGE_SIZE = 50
ROLE = "supervisor"
# The actions of a case page: the path's last part → the form's name.
ACTIONS = {
    "prendre": "claim",
    "liberer": "release",
    "avis": "view",
    "approuver": "approve",
    "amender": "amend",
    "rejeter": "reject",
}
_VERDICTS = {"approve": "approve", "amend": "amend", "reject": "reject"}
_DONE = frozenset(ACTIONS.values())


def routes(console: Console) -> list[BaseRoute]:
    pages = SupervisorPages(console)
    return [
        Route("/file", pages.queue, methods=["GET"]),
        Route("/file/flux", pages.stream, methods=["GET"]),
        Route("/dossier/{decision_id}", pages.case, methods=["GET"]),
        Route("/dossier/{decision_id}/{action}", pages.act, methods=["POST"]),
    ]


class QueueFilters:
    """The queue page's filters, read from its query string (anything unreadable is ignored)."""

    def __init__(self, params: QueryParams) -> None:
        self.decision_type = params.get("type", "").strip()[:100]
        self.before = _day(params.get("avant", ""))
        self.mine = params.get("moi") == "1"
        self.unseen = params.get("non_vus") == "1"
        token = params.get("page", "")
        self.page = token if len(token) <= 500 else ""

    def deadline_before(self) -> datetime | None:
        """The end of the chosen day in Paris: deadlines on that day are kept."""
        if self.before is None:
            return None
        midnight = datetime.combine(self.before + timedelta(days=1), time(), _paris())
        return midnight.astimezone(UTC)

    def query(self, *, page: str = "") -> str:
        params = {
            "type": self.decision_type,
            "avant": self.before.isoformat() if self.before else "",
            "moi": "1" if self.mine else "",
            "non_vus": "1" if self.unseen else "",
            "page": page,
        }
        return urlencode({k: v for k, v in params.items() if v})

    @property
    def any(self) -> bool:
        return bool(self.decision_type or self.before or self.mine or self.unseen)


def _paris() -> Any:
    try:
        return ZoneInfo("Europe/Paris")
    except Exception:
        return UTC


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _decision_id(request: Request) -> str:
    try:
        return str(uuid.UUID(request.path_params["decision_id"]))
    except ValueError as exc:
        raise HTTPException(404) from exc


def _seen_version(form: FormData) -> int:
    text = form.get("seen_version")
    if isinstance(text, str) and text.isdigit() and len(text) < 19:
        return int(text)
    raise HTTPException(400)


def _text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class SupervisorPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.slots = queue_stream.StreamSlots()

    # -- the queue -----------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if not isinstance(session, Session):
            return session
        filters = QueueFilters(request.query_params)
        client = await self.console.gateway_for(session)
        try:
            response = await client.list_queue(
                decision_type=filters.decision_type,
                page_size=PAGE_SIZE,
                page_token=filters.page,
                claimed_by_me=filters.mine,
                deadline_before=filters.deadline_before(),
                not_seen_by_me=filters.unseen,
            )
        except AvalError as error:
            return self.console.gateway_error(request, session, error)
        now = datetime.now(UTC)
        rows = [queue_row(d, session, session.language, now) for d in response.decisions]
        own = filters.query()
        return self.console.render(
            request,
            "queue.html",
            session,
            rows=rows,
            counts=response.counts,
            filters=filters,
            types=sorted({r.decision_type for r in rows} | {filters.decision_type} - {""}),
            refresh_url="/file" + (f"?{own}" if own else ""),
            next_url=f"/file?{filters.query(page=response.next_page_token)}"
            if response.next_page_token
            else "",
            first_url="/file" + (f"?{filters.query()}" if filters.any else "")
            if filters.page
            else "",
            mine_url="/file?moi=1",
        )

    async def stream(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if not isinstance(session, Session):
            return session
        key = id(session)
        token = self.slots.take(key)
        if token is None:
            return Response("too many open streams", status_code=429, media_type="text/plain")
        cookie = request.cookies.get(self.console.session_cookie)
        client = await self.console.gateway_for(session)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in queue_stream.events(
                    client, lambda: self.console.sessions.alive(cookie)
                ):
                    yield chunk
            finally:
                self.slots.give_back(key, token)

        stream = body()
        self.slots.hold(key, token, stream)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    # -- a case ----------------------------------------------------------------------------------

    async def case(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if not isinstance(session, Session):
            return session
        decision_id = _decision_id(request)
        done = request.query_params.get("fait", "")
        return await self._case_page(
            request, session, decision_id, done=done if done in _DONE else ""
        )

    async def _case_page(
        self,
        request: Request,
        session: Session,
        decision_id: str,
        *,
        done: str = "",
        refusal: case_page.Refusal | None = None,
    ) -> Response:
        client = await self.console.gateway_for(session)
        try:
            found = await client.get_case(decision_id, language=session.language)
        except AvalError as error:
            return self.console.gateway_error(request, session, error)
        view = case_page.build(found, session, session.language, refusal)
        return self.console.render(
            request,
            "case.html",
            session,
            case=view,
            done=done,
            refusal=refusal,
        )

    async def act(self, request: Request) -> Response:
        session = self.console.signed_in(request, ROLE)
        if not isinstance(session, Session):
            return session
        decision_id = _decision_id(request)
        action = ACTIONS.get(request.path_params["action"])
        if action is None:
            raise HTTPException(404)
        form = await self.console.form(request, session)
        seen = _seen_version(form)
        client = await self.console.gateway_for(session)
        posted = amend_form.posted_values(form)
        try:
            if action == "claim":
                await client.claim(decision_id, seen_version=seen)
            elif action == "release":
                await client.release(decision_id)
            elif action == "view":
                verdict = _text(form, "verdict")
                output: dict[str, Any] | None = None
                if verdict == "amend" and any(v.strip() for v in posted.values() if v != "off"):
                    read = await self._amended(form, posted, client, decision_id, session, "view")
                    if isinstance(read, case_page.Refusal):
                        return await self._case_page(request, session, decision_id, refusal=read)
                    output = read
                await client.record_view(
                    decision_id,
                    verdict=verdict,  # type: ignore[arg-type]
                    output=output,
                    note=_text(form, "note"),
                    seen_version=seen,
                )
            else:
                amended: dict[str, Any] | None = None
                if action == "amend":
                    read = await self._amended(form, posted, client, decision_id, session)
                    if isinstance(read, case_page.Refusal):
                        return await self._case_page(request, session, decision_id, refusal=read)
                    amended = read
                await client.decide(
                    decision_id,
                    verdict=_VERDICTS[action],  # type: ignore[arg-type]
                    justification=_text(form, "justification"),
                    amended_output=amended,
                    language=session.language,
                    seen_version=seen,
                )
        except AvalError as error:
            refusal = case_page.refusal_of(error, action, form, posted)
            # The case page again, answered 200 as a form with errors is: the refusal is
            # in the page (an alert, the fields marked, the title starting with "Erreur"),
            # and a browser logs no failed load for it.
            return await self._case_page(request, session, decision_id, refusal=refusal)
        return RedirectResponse(f"/dossier/{decision_id}?fait={action}", status_code=303)

    async def _amended(
        self,
        form: FormData,
        posted: Mapping[str, str],
        client: AsyncClient,
        decision_id: str,
        session: Session,
        action: str = "amend",
    ) -> dict[str, Any] | case_page.Refusal:
        """The amended output the form holds, read with the type's schema (from GetCase)."""
        found = await client.get_case(decision_id, language=session.language)
        schema = case_page.schema_of(found.policy)
        fields = amend_form.fields(schema, {}, posted)
        try:
            return amend_form.output(fields)
        except amend_form.NotAnObject:
            message = self.console.text(session.language)("case.amend_not_json")
            return case_page.Refusal(
                action=action,
                message=message,
                fields={"": message},
                justification=_text(form, "justification"),
                posted=dict(posted),
            )
