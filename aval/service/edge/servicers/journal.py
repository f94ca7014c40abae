"""The AccessJournal service: privacy officers read who consulted what (R13)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aval.audit_store.access_journal import AccessRecord
from aval.service.audit import access_journal
from aval.service.deployment import Deployment
from aval.service.edge import convert
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.requests import parse
from aval.service.requests.journal import ExportAccessJournalIn, QueryAccessJournalIn
from aval.v1 import journal_pb2, journal_pb2_grpc


def _record(r: AccessRecord) -> journal_pb2.AccessRecord:
    return journal_pb2.AccessRecord(
        id=str(r.id),
        at=convert.timestamp(r.at),
        tenant=r.tenant_id,
        reader=r.reader,
        reader_kind=r.reader_kind,
        action=r.action,
        decision_id=str(r.decision_id) if r.decision_id else "",
        filters=r.filters,
        purpose=r.purpose,
        outcome=r.outcome,
    )


@guarded
class AccessJournalServicer(journal_pb2_grpc.AccessJournalServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def QueryAccessJournal(
        self, request: journal_pb2.QueryAccessJournalRequest, context: Context
    ) -> journal_pb2.QueryAccessJournalResponse:
        query = parse(QueryAccessJournalIn, request)
        page, token = await access_journal.query_journal(self.deployment, caller(), query)
        return journal_pb2.QueryAccessJournalResponse(
            records=[_record(r) for r in page], next_page_token=token
        )

    async def ExportAccessJournal(
        self, request: journal_pb2.ExportAccessJournalRequest, context: Context
    ) -> AsyncIterator[journal_pb2.ExportAccessJournalResponse]:
        ask = parse(ExportAccessJournalIn, request)
        async for batch in access_journal.export_journal(self.deployment, caller(), ask):
            yield journal_pb2.ExportAccessJournalResponse(records=[_record(r) for r in batch])
