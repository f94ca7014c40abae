"""The request of the AccessJournal service's RPC, built once for both clients (see
:mod:`aval.clients.sdk.calls`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import datetime
from typing import Any

from aval.clients.sdk.calls import UnaryCall, _whole
from aval.clients.sdk.connection import Connection, translated_errors
from aval.v1 import journal_pb2


def query_request(
    *,
    tenant: str = "",
    reader: str = "",
    decision_id: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> journal_pb2.QueryAccessJournalRequest:
    """The request of :func:`query_access_journal` (and the query of an export)."""
    request = journal_pb2.QueryAccessJournalRequest(
        tenant=tenant,
        reader=reader,
        decision_id=decision_id,
        action=action,
        page_size=page_size,
        page_token=page_token,
    )
    if since is not None:
        request.since.FromDatetime(since)
    if until is not None:
        request.until.FromDatetime(until)
    return request


def query_access_journal(
    *,
    tenant: str = "",
    reader: str = "",
    decision_id: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> UnaryCall[journal_pb2.QueryAccessJournalResponse]:
    """Lists who consulted what in a tenant (the access journal, R13), oldest first.

    Only a privacy officer of the tenant may; this read is journaled too.

    Args:
        tenant: The caller's tenant when empty.
        reader: Only reads by this principal id.
        decision_id: Only reads of this decision.
        action: Only this kind of read, e.g. ``"decision.get"`` or ``"queue.list"``.
        since: Only reads at or after this time (timezone-aware).
        until: Only reads before this time (timezone-aware).
        page_size: 100 when 0; at most 1000.
        page_token: ``next_page_token`` of the previous page (same filters).

    Returns:
        One page of records and the token of the next one (empty on the last page).

    Raises:
        PermissionDeniedError: The caller is not a privacy officer of the tenant.
        AvalError: Any other refusal of the gateway.
    """
    request = query_request(
        tenant=tenant,
        reader=reader,
        decision_id=decision_id,
        action=action,
        since=since,
        until=until,
        page_size=page_size,
        page_token=page_token,
    )
    return UnaryCall("journal", "QueryAccessJournal", request, _whole)


class JournalStreams(Connection):
    """The blocking client's stream of the access journal."""

    def export_access_journal(
        self, *, timeout: float | None = None, **filters: Any
    ) -> Generator[journal_pb2.AccessRecord, None, None]:
        """Streams every record the filters select, oldest first; the export is journaled.

        Args:
            timeout: Deadline in seconds of the whole export; none when ``None``.
            **filters: The filters of :meth:`query_access_journal` (no paging).

        Yields:
            Each record.

        Raises:
            PermissionDeniedError: The caller is not a privacy officer of the tenant.
            AvalError: Any other refusal of the gateway, or the stream broke.
        """
        request = journal_pb2.ExportAccessJournalRequest(query=query_request(**filters))
        stream = self._start_stream("journal", "ExportAccessJournal", request, timeout)
        with translated_errors(stream):
            for response in stream:
                yield from response.records


class AsyncJournalStreams(Connection):
    """The asyncio client's stream of the access journal."""

    async def export_access_journal(
        self, **filters: Any
    ) -> AsyncGenerator[journal_pb2.AccessRecord, None]:
        """Streams every record the filters select; see :meth:`Client.export_access_journal`.

        Bound the wait with ``asyncio.timeout()`` rather than a ``timeout`` argument.
        """
        request = journal_pb2.ExportAccessJournalRequest(query=query_request(**filters))
        stream = self._start_stream("journal", "ExportAccessJournal", request, None)
        with translated_errors(stream):
            async for response in stream:
                for record in response.records:
                    yield record
