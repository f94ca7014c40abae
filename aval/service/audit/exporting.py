"""ExportEvents: the events a query selects, as JSON Lines or CSV, in chunks of whole lines."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection

from aval.audit_store import checkpoints, queries
from aval.audit_store.checkpoints import CheckpointRecord
from aval.audit_store.query_sql import EventQuery
from aval.service.audit.access_journal import journal_read
from aval.service.audit.inspection import event_query, query_summary
from aval.service.audit.proofs import checkpoint_of_size, inclusion_paths
from aval.service.deployment import Deployment
from aval.service.errors import FieldViolation, InvalidArgument
from aval.service.identity import Principal
from aval.service.requests.audit import ExportEventsIn
from aval.verifier.chain import utc_iso
from aval.verifier.events import AuditEvent

# A chunk is sent once it holds this many bytes (or the lines run out); it always ends a line.
CHUNK_BYTES = 64 * 1024
# With inclusion proofs, the events are proven this many at a time: one read of the trail's
# leaves per batch, and memory bounded however many events match.
PROOF_BATCH = 5000
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


def proven_line(event: AuditEvent, tree_size: int, path: list[bytes] | None) -> str:
    """One JSON Lines line with the event's inclusion proof (`inclusion`): the tree size of
    the checkpoint, the leaf index (``seq - 1``) and the audit path in hex, from the leaf up;
    null when the checkpoint does not cover the event (``path`` None)."""
    fields = export_fields(event)
    fields["inclusion"] = (
        None
        if path is None
        else {
            "tree_size": tree_size,
            "leaf_index": event.seq - 1,
            "audit_path": [node.hex() for node in path],
        }
    )
    return _json(fields) + "\n"


def _refuse_proofs(request: ExportEventsIn, tenants: tuple[str, ...]) -> None:
    """Inclusion proofs are for the JSON Lines of one tenant (one tree).

    Raises:
        InvalidArgument: CSV, or several tenants.
    """
    if request.format == "EXPORT_FORMAT_CSV":
        detail = "inclusion proofs are only written in JSON Lines"
        raise InvalidArgument([FieldViolation("format", "INVALID_VALUE", {"detail": detail})])
    if len(tenants) != 1:
        detail = "inclusion proofs lead to one tenant's checkpoint: name one tenant"
        raise InvalidArgument(
            [FieldViolation("query.tenants", "INVALID_VALUE", {"detail": detail})]
        )


async def _proof_checkpoint(
    conn: AsyncConnection[Any], tenant: str, tree_size: int
) -> CheckpointRecord | None:
    """The checkpoint the proofs lead to: that of `tree_size`, or the latest when 0 (None
    when there is none yet).

    Raises:
        NotFound: No checkpoint of that size.
    """
    if tree_size == 0:
        return await checkpoints.latest(conn, tenant)
    return await checkpoint_of_size(conn, tenant, tree_size)


async def _proven_lines(
    conn: AsyncConnection[Any],
    tenant: str,
    checkpoint: CheckpointRecord | None,
    events: list[AuditEvent],
) -> list[str]:
    """The lines of a batch of events, each with its inclusion proof (`proven_line`)."""
    size = checkpoint.tree_size if checkpoint is not None else 0
    covered = [event.seq - 1 for event in events if event.seq <= size]
    paths = iter(await inclusion_paths(conn, tenant, size, covered) if covered else [])
    return [
        proven_line(event, size, next(paths) if event.seq <= size else None) for event in events
    ]


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


async def _lines(
    conn: AsyncConnection[Any],
    query: EventQuery,
    line: Callable[[AuditEvent], str],
    proofs: CheckpointRecord | Literal[False] | None,
) -> AsyncGenerator[str, None]:
    """The lines of the events a query selects; with their inclusion proofs against the
    checkpoint `proofs` unless False (None: no checkpoint yet), `PROOF_BATCH` at a time."""
    batch: list[AuditEvent] = []
    async for event in queries.stream(conn, query):
        if proofs is False:
            yield line(event)
            continue
        batch.append(event)
        if len(batch) == PROOF_BATCH:
            for text in await _proven_lines(conn, query.tenants[0], proofs, batch):
                yield text
            batch = []
    if batch and proofs is not False:
        for text in await _proven_lines(conn, query.tenants[0], proofs, batch):
            yield text


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

    With `inclusion_proofs`, each JSON Lines line also carries its event's RFC 9162 inclusion
    proof (`proven_line`) against the checkpoint of `proof_tree_size` (the latest when 0), read
    in the same snapshot as the events.

    Args:
        deployment: The running service.
        principal: The caller.
        request: The query (paging ignored), the format, and whether to prove inclusion.

    Yields:
        The chunks, each with the number of events sent up to its end.

    Raises:
        InvalidArgument: a tenant is unknown; inclusion proofs asked of CSV or of several
            tenants.
        NotFound: no checkpoint of `proof_tree_size`.
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
    if request.inclusion_proofs:
        _refuse_proofs(request, query.tenants)
    async with deployment.store.export_snapshot() as conn:
        checkpoint = None
        if request.inclusion_proofs:
            checkpoint = await _proof_checkpoint(conn, query.tenants[0], request.proof_tree_size)
        # Journaled once it will be served, before anything of it is sent (R13).
        await journal_read(
            deployment,
            principal,
            query.tenants,
            "events.export",
            decisions=[request.query.decision_id],
            filters=query_summary(request.query),
        )
        proofs: CheckpointRecord | Literal[False] | None = (
            checkpoint if request.inclusion_proofs else False
        )
        async with contextlib.aclosing(_lines(conn, query, line, proofs)) as texts:
            async for text in texts:
                data = text.encode()
                if size + len(data) > CHUNK_BYTES and pending:
                    yield Chunk(b"".join(pending), sent)
                    pending.clear()
                    size = 0
                pending.append(data)
                size += len(data)
                sent += 1
    if pending:
        yield Chunk(b"".join(pending), sent)
