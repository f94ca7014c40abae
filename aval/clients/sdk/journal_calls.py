"""The request of the AccessJournal service's RPC, built once for both clients (see
:mod:`aval.clients.sdk.calls`)."""

from __future__ import annotations

from datetime import datetime

from aval.clients.sdk.calls import UnaryCall, _whole
from aval.v1 import journal_pb2


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
    return UnaryCall("journal", "QueryAccessJournal", request, _whole)
