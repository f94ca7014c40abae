"""The access journal (R13, CNIL deliberation 2021-122): who consulted what, when, and why.

Every served read of a decision, its input, an explanation or an export leaves one row per
tenant read (one per decision a queue page shows), written before the reply goes out: a read
whose row cannot be written is refused (fail closed). Only a privacy officer reads the journal,
and that read is journaled too. The rows never reach the trail nor the reviewers' statistics.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote

from aval.audit_store import access_journal
from aval.audit_store.access_journal import AccessRecord, JournalQuery
from aval.audit_store.errors import JournalUnavailable
from aval.service.deployment import Deployment
from aval.service.errors import FieldViolation, InvalidArgument, page_position
from aval.service.identity import Principal, actor_of
from aval.service.requests.journal import ExportAccessJournalIn, QueryAccessJournalIn

# The call metadata that says why a read is made; percent-encoded UTF-8 (gRPC metadata is ASCII).
PURPOSE_KEY = "x-aval-purpose"
PURPOSE_MAX_CHARS = 200
# The call's purpose, as `purpose_of` accepted it (set for every call by the servicers' edge).
PURPOSE: ContextVar[str] = ContextVar("aval_purpose", default="")
_PURPOSE_FIELD = f"metadata.{PURPOSE_KEY}"


def _printable(char: str) -> bool:
    # A space of any width (French puts a narrow no-break one before ":"), or a character drawn
    # as something: letters, marks on them, numbers, punctuation, symbols. Never a control, a
    # format character (bidi, zero-width), a line or paragraph separator, nor an unassigned one.
    category = unicodedata.category(char)
    return category == "Zs" or category[0] in "LMNPS"


def purpose_of(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The purpose a call gives (empty when none), decoded and checked, never stored raw.

    Raises:
        InvalidArgument: the purpose is sent more than once, is not percent-encoded UTF-8, is
            longer than PURPOSE_MAX_CHARS once trimmed, or holds a character that is neither a
            space nor visible (NUL, controls, line breaks, bidi and zero-width characters);
            nothing is read nor written then.
    """
    values = [value for key, value in metadata if key == PURPOSE_KEY]
    if not values:
        return ""
    refused = InvalidArgument([FieldViolation(_PURPOSE_FIELD, "PURPOSE_TEXT")])
    raw = values[0]
    if len(values) > 1 or not isinstance(raw, str) or len(raw) > 12 * PURPOSE_MAX_CHARS:
        raise refused
    if any(not (" " <= c <= "~") for c in raw):
        raise refused
    try:
        text = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise refused from None
    text = unicodedata.normalize("NFC", text)
    if not all(_printable(c) for c in text):
        raise refused
    text = text.strip()
    if len(text) > PURPOSE_MAX_CHARS:
        raise refused
    return text


# A filter's value is kept up to this many characters: some filters of the wire are unbounded,
# and a caller must not grow the journal by asking for something huge that matches nothing.
FILTER_MAX_CHARS = 200


def _kept(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= FILTER_MAX_CHARS else text[:FILTER_MAX_CHARS] + "…"


def summary(filters: Mapping[str, Any]) -> str:
    """The filters of a query as one line of ASCII JSON: what was asked for, not what was read;
    each value cut to FILTER_MAX_CHARS characters."""
    kept = {
        k: _kept(v)
        for k, v in filters.items()
        if v not in (None, "", (), [], "VERDICT_UNSPECIFIED")
    }
    return json.dumps(kept, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _records(
    deployment: Deployment,
    principal: Principal,
    tenants: Iterable[str],
    action: str,
    decision_ids: Sequence[uuid.UUID | None],
    filters: str,
) -> list[AccessRecord]:
    at = deployment.clock.now()
    kind = actor_of(principal).type.value
    purpose = PURPOSE.get()
    return [
        AccessRecord(
            tenant, uuid.uuid4(), at, principal.id, kind, action, decision_id, filters, purpose
        )
        for tenant in tenants
        for decision_id in decision_ids
    ]


async def journal_read(
    deployment: Deployment,
    principal: Principal,
    tenants: Iterable[str],
    action: str,
    *,
    decisions: Sequence[uuid.UUID | None] = (None,),
    filters: str = "",
) -> None:
    """Records a served read, one row per tenant and decision; returns once committed.

    Call it after the read succeeded and before anything of it is sent.

    Raises:
        JournalUnavailable: the rows could not be written; the read must be refused.
    """
    records = _records(deployment, principal, tenants, action, decisions, filters)
    if not records:
        return
    if deployment.journal is not None:
        await deployment.journal.write(records)
        return
    try:  # no writer (tests in-process): one statement of its own, as reliable
        async with deployment.store.single_statement() as conn:
            await access_journal.append(conn, records)
    except Exception as exc:
        raise JournalUnavailable(type(exc).__name__) from None


def _journal_query(
    deployment: Deployment, principal: Principal, request: QueryAccessJournalIn
) -> JournalQuery:
    """The query asked for, once the caller is known to be a privacy officer of the tenant.

    Raises:
        PermissionDenied: the caller is not a privacy officer of the tenant (I5).
    """
    return JournalQuery(
        tenant=deployment.tenant_for(principal, request.tenant, "journal.read"),
        reader=request.reader or None,
        decision_id=request.decision_id,
        action=request.action or None,
        since=request.since,
        until=request.until,
    )


async def _journal_own_read(
    deployment: Deployment, principal: Principal, request: QueryAccessJournalIn, action: str
) -> None:
    filters = summary(
        {
            "reader": request.reader,
            "decision_id": request.decision_id,
            "action": request.action,
            "since": request.since,
            "until": request.until,
            "page": bool(request.page_token),
        }
    )
    tenant = request.tenant or principal.tenant
    await journal_read(
        deployment, principal, [tenant], action, decisions=[request.decision_id], filters=filters
    )


async def query_journal(
    deployment: Deployment, principal: Principal, request: QueryAccessJournalIn
) -> tuple[list[AccessRecord], str]:
    """A page of a tenant's journal, oldest first, and the token of the next page.

    Raises:
        PermissionDenied: the caller is not a privacy officer of the tenant (I5).
    """
    query = _journal_query(deployment, principal, request)
    after = page_position(request.page_token, access_journal.decode_page_token)
    async with deployment.store.reading() as conn:
        page = await access_journal.page(conn, query, after=after, limit=request.page_size + 1)
    more = len(page) > request.page_size
    page = page[: request.page_size]
    await _journal_own_read(deployment, principal, request, "journal.query")
    token = access_journal.encode_page_token(page[-1].at, page[-1].id) if more else ""
    return page, token


EXPORT_BATCH = 500


async def export_journal(
    deployment: Deployment, principal: Principal, request: ExportAccessJournalIn
) -> AsyncIterator[list[AccessRecord]]:
    """Every record the filters select, oldest first, in batches of EXPORT_BATCH.

    Each batch is read on its own (keyset paging), so a slow reader holds no connection. The
    export is journaled once, before its first batch.

    Raises:
        PermissionDenied: the caller is not a privacy officer of the tenant (I5).
    """
    query = _journal_query(deployment, principal, request.query)
    await _journal_own_read(deployment, principal, request.query, "journal.export")
    after = None
    while True:
        async with deployment.store.reading() as conn:
            batch = await access_journal.page(conn, query, after=after, limit=EXPORT_BATCH)
        if batch:
            yield batch
        if len(batch) < EXPORT_BATCH:
            return
        after = (batch[-1].at, batch[-1].id)
