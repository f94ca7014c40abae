"""Trail verification for inspectors: a POST starts VerifyTrail as the person; its progress is
pushed to the page through server-sent events (static/inspector.js), and without JavaScript
the POST waits and answers with the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import AvalError
from aval.console.app import Console
from aval.console.pages.inspection_filters import tenant_of
from aval.console.sessions import Session
from aval.v1 import audit_pb2

ROLE = "inspector"
# A finished verification's report stays readable this long; at most this many are kept.
KEPT_SECONDS = 600
MAX_RUNS = 100
# A person may have this many verifications running at once (each reads the whole trail).
MAX_RUNNING_EACH = 2
# The longest an SSE stream waits between two messages before sending a comment.
HEARTBEAT_SECONDS = 15.0


@dataclass
class Run:
    """One verification, owned by one person: its progress, then its report (or refusal)."""

    owner: str
    tenant: str
    started: float = field(default_factory=time.monotonic)
    checked: int = 0
    total: int = 0
    report: audit_pb2.VerifyChainResponse | None = None
    refusal: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.report is not None or self.refusal is not None

    def _tell(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def follow(self, client: AsyncClient) -> None:
        try:
            async for update in client.verify_trail(tenant=self.tenant):
                if update.HasField("progress"):
                    self.checked = update.progress.events_checked
                    self.total = update.progress.events_total
                else:
                    self.report = update.report
                    self.checked = self.total = update.report.events_checked
                self._tell()
        except AvalError as error:
            self.refusal = error.localized or error.message
        if self.report is None and self.refusal is None:
            self.refusal = "—"
        self._tell()


class Verifications:
    """The verifications running or recently finished, by an unguessable id."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    def start(self, owner: str, tenant: str, client: AsyncClient) -> str:
        self._forget()
        running = sum(1 for r in self._runs.values() if r.owner == owner and not r.done)
        if len(self._runs) >= MAX_RUNS or running >= MAX_RUNNING_EACH:
            raise HTTPException(429)
        run_id = secrets.token_urlsafe(16)
        run = Run(owner, tenant)
        run.task = asyncio.get_running_loop().create_task(run.follow(client))
        self._runs[run_id] = run
        return run_id

    def get(self, run_id: str, owner: str) -> Run:
        run = self._runs.get(run_id)
        if run is None or run.owner != owner:
            raise HTTPException(404)
        return run

    def _forget(self) -> None:
        now = time.monotonic()
        for run_id, run in list(self._runs.items()):
            if run.done and now - run.started > KEPT_SECONDS:
                del self._runs[run_id]


class VerificationPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.runs = Verifications()

    def _session(self, request: Request) -> Session | Response:
        return self.console.signed_in(request, ROLE)

    async def form(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        return self.console.render(request, "inspection/verification.html", session, run=None)

    async def start(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        form = await self.console.form(request, session)
        client = await self.console.gateway_for(session)
        run_id = self.runs.start(session.principal_id, tenant_of(form, session), client)
        base = f"/inspection/verification/{run_id}"
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"stream": f"{base}/flux", "report": base})
        run = self.runs.get(run_id, session.principal_id)
        if run.task is not None:
            await asyncio.shield(run.task)
        return self._page(request, session, run, run_id)

    async def report(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        run_id = str(request.path_params["run"])
        return self._page(request, session, self.runs.get(run_id, session.principal_id), run_id)

    def _page(self, request: Request, session: Session, run: Run, run_id: str) -> Response:
        return self.console.render(
            request, "inspection/verification.html", session, run=run, run_id=run_id
        )

    async def stream(self, request: Request) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        run = self.runs.get(str(request.path_params["run"]), session.principal_id)
        return StreamingResponse(
            _events(run),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )


def _message(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _events(run: Run) -> AsyncIterator[bytes]:
    """Progress (at once, then at every change), then the end: `report` or `refused`."""
    while True:
        changed = run.changed
        yield _message("progress", {"checked": run.checked, "total": run.total})
        if run.done:
            break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HEARTBEAT_SECONDS):
                await changed.wait()
    if run.report is not None:
        yield _message(
            "report",
            {"ok": run.report.ok, "problems": len(run.report.problems)},
        )
    else:
        yield _message("refused", {"message": run.refusal or ""})
