"""ExportEvents: the events a query selects, as JSON Lines or CSV, in chunks of whole lines."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from aval.audit_store import queries
from aval.service.audit.access_journal import journal_read
from aval.service.audit.inspection import event_query, query_summary
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.audit import ExportEventsIn
from aval.verifier.chain import utc_iso
from aval.verifier.events import AuditEvent

# A chunk is sent once it holds this many bytes (or the lines run out); it always ends a line.
CHUNK_BYTES = 64 * 1024
# The fields of each exported event, in the order of AuditEvent in the contract (and of the
# CSV columns).
FIELDS = (
    "tenant",
    "seq",
    "event_id",
    "occurred_at",
    "decision_id",
    "kind",
    "actor_id",
    "actor_type",
    "trace_id",
    "schema_version",
    "data",
    "prev_hash",
    "hash",
    "canonical",
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def export_fields(event: AuditEvent) -> dict[str, Any]:
    """One event as the export writes it.

    Times are RFC 3339 in UTC with microseconds (as in the canonical bytes), hashes are hex,
    the canonical bytes are base64, and ``data`` is what those bytes say.

    Args:
        event: The event.

    Returns:
        The fields, keyed and ordered as `FIELDS`.
    """
    return {
        "tenant": event.tenant_id,
        "seq": event.seq,
        "event_id": str(event.event_id),
        "occurred_at": utc_iso(event.occurred_at),
        "decision_id": str(event.decision_id) if event.decision_id else "",
        "kind": event.kind,
        "actor_id": event.actor_id,
        "actor_type": event.actor_type,
        "trace_id": event.trace_id,
        "schema_version": event.schema_version,
        "data": event.body.get("data") or {},
        "prev_hash": event.prev_hash.hex(),
        "hash": event.hash.hex(),
        "canonical": base64.b64encode(event.canonical).decode("ascii"),
    }


def jsonl_line(event: AuditEvent) -> str:
    """One JSON Lines line (with its newline): one object, the fields of `export_fields`."""
    return _json(export_fields(event)) + "\n"


class CsvLines:
    """Writes events as CSV (RFC 4180: quoted as needed, CRLF line ends), one line at a time.

    ``data`` is a cell holding its JSON text; the other cells are as in `export_fields`.
    """

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def _take(self, cells: list[Any]) -> str:
        self._writer.writerow(cells)
        line = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return line

    def header(self) -> str:
        """The header line: the names of `FIELDS`."""
        return self._take(list(FIELDS))

    def line(self, event: AuditEvent) -> str:
        """The line of one event."""
        fields = export_fields(event)
        fields["data"] = _json(fields["data"])
        return self._take(list(fields.values()))


@dataclass(frozen=True)
class Chunk:
    """The next bytes of an export, and how many events have been sent once they are."""

    data: bytes
    events: int


async def export_events(
    deployment: Deployment, principal: Principal, request: ExportEventsIn
) -> AsyncGenerator[Chunk, None]:
    """Streams the events a query selects, in (tenant, sequence) order, as of one snapshot.

    The events are read through server-side cursors, one batch at a time, and sent in chunks
    of about `CHUNK_BYTES` that always end with a whole line: memory stays bounded however
    large the export. The snapshot is a connection of the export pool, held until the last
    chunk is taken or the generator is closed (a stalled client: service/admission.py). A CSV
    export always has its header, even with no event; a JSON Lines export with no event sends
    nothing.

    Args:
        deployment: The running service.
        principal: The caller.
        request: The query (paging ignored) and the format.

    Yields:
        The chunks, each with the number of events sent up to its end.

    Raises:
        InvalidArgument: a tenant is unknown.
        PermissionDenied: the caller may not query one of the tenants (I5).
        ExportsBusy: every export connection is in use.
    """
    query = event_query(deployment, principal, request.query)
    pending: list[bytes] = []
    size = sent = 0
    line: Callable[[AuditEvent], str] = jsonl_line
    if request.format == "EXPORT_FORMAT_CSV":
        writer = CsvLines()
        line = writer.line
        pending.append(writer.header().encode())
        size = len(pending[0])
    async with deployment.store.export_snapshot() as conn:
        # Journaled once it will be served, before anything of it is sent (R13).
        await journal_read(
            deployment,
            principal,
            query.tenants,
            "events.export",
            decisions=[request.query.decision_id],
            filters=query_summary(request.query),
        )
        async for event in queries.stream(conn, query):
            data = line(event).encode()
            if size + len(data) > CHUNK_BYTES and pending:
                yield Chunk(b"".join(pending), sent)
                pending.clear()
                size = 0
            pending.append(data)
            size += len(data)
            sent += 1
    if pending:
        yield Chunk(b"".join(pending), sent)
