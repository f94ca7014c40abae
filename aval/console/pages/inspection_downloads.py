"""Downloads for inspectors: the events a search selects as JSON Lines or CSV (streamed from
ExportEvents), and a tenant's offline bundle (the one `aval audit export --bundle` writes) as
a .zip or .tar.gz. Both are posted forms (CSRF), so that the purpose stays out of URLs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from aval.clients.cli.bundle import begin_bundle, finish_bundle, plan_bundle
from aval.clients.sdk.audit_calls import ExportFormatName
from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import FailedPreconditionError, PermissionDeniedError
from aval.console.app import Console
from aval.console.pages.inspection_filters import (
    EventFilters,
    as_inspector,
    tenant_of,
)
from aval.console.sessions import Session
from aval.verifier.bundle import EVENTS

ROLE = "inspector"
# A bundle whose events exceed this many bytes is refused rather than filling the disk.
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
ARCHIVES = {"zip": ("zip", "application/zip"), "tar.gz": ("gztar", "application/gzip")}
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class BundleTooLarge(Exception):
    """The tenant's events exceed MAX_BUNDLE_BYTES."""


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class Downloads:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def _posted(
        self, request: Request, choice: str, choices: Collection[str]
    ) -> tuple[Session, FormData, EventFilters, str] | Response:
        """The inspector, their form, its filters and the `choice` field among `choices`.

        Raises:
            HTTPException: 400 on a bad filter or choice.
        """
        session = self.console.signed_in(request, ROLE)
        if isinstance(session, Response):
            return session
        form = await self.console.form(request, session)
        asked = EventFilters.read(form)
        chosen = form.get(choice)
        if asked.errors or not isinstance(chosen, str) or chosen not in choices:
            raise HTTPException(400)
        return session, form, asked, chosen

    async def events(self, request: Request) -> Response:
        posted = await self._posted(request, "format", MEDIA)
        if isinstance(posted, Response):
            return posted
        session, _, asked, chosen = posted
        fmt: ExportFormatName = "csv" if chosen == "csv" else "jsonl"
        client = await as_inspector(self.console, session, asked.purpose)
        stream = client.export_events(format=fmt, **asked.query())
        # The first chunk is awaited here, so that a refusal is a page, not a cut download.
        first = await anext(stream, None)

        async def body() -> AsyncIterator[bytes]:
            if first is None:
                return
            yield first.chunk
            async for chunk in stream:
                yield chunk.chunk

        name = f"aval-evenements-{_stamp()}.{fmt}"
        return StreamingResponse(
            body(),
            media_type=MEDIA[fmt],
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def bundle(self, request: Request) -> Response:
        posted = await self._posted(request, "archive", ARCHIVES)
        if isinstance(posted, Response):
            return posted
        session, form, asked, chosen = posted
        tenant = tenant_of(form, session)
        client = await as_inspector(self.console, session, asked.purpose)
        work = Path(tempfile.mkdtemp(prefix="aval-bundle-"))
        try:
            folder = work / f"aval-{tenant}-{_stamp()}"
            await _write_bundle(client, tenant, folder)
            kind, media = ARCHIVES[chosen]
            archive = await asyncio.to_thread(
                shutil.make_archive, str(work / folder.name), kind, work, folder.name
            )
        except BundleTooLarge:
            shutil.rmtree(work, ignore_errors=True)
            raise HTTPException(413) from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return FileResponse(
            archive,
            media_type=media,
            filename=Path(archive).name,
            background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
        )


async def _write_bundle(client: AsyncClient, tenant: str, folder: Path) -> None:
    """What `aval audit export --bundle --tenant TENANT` writes, read through the async
    client: a checkpoint signed first when the inspector may, then the checkpoints, so that
    every checkpoint covers events the bundle holds."""
    with contextlib.suppress(PermissionDeniedError, FailedPreconditionError):
        await client.create_checkpoint(tenant=tenant)
    plan = plan_bundle(tenant, {}, await client.list_checkpoints(tenant=tenant, newest=1))
    await asyncio.to_thread(begin_bundle, folder, plan)
    events = written = 0
    with (folder / EVENTS).open("wb") as out:
        async for chunk in client.export_events(format="jsonl", **plan.export_arguments()):
            written += len(chunk.chunk)
            if written > MAX_BUNDLE_BYTES:
                raise BundleTooLarge
            out.write(chunk.chunk)
            events = chunk.events
    await asyncio.to_thread(finish_bundle, folder, plan, events)
