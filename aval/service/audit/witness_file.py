"""The local witness file: a JSON Lines copy of every checkpoint the service signed, appended
before each commit, read by verification (`checkpoint_missing`) and compacted by the retention
rule (docs/signing.md)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aval.audit_store.checkpoints import CheckpointRecord
from aval.service.settings import Settings
from aval.verifier.chain import utc_iso
from aval.verifier.retention import RetainedPoint


def witness_path(settings: Settings) -> Path:
    """The witness file: AVAL_WITNESS_FILE, else `<data_dir>/witness/checkpoints.jsonl`."""
    return settings.witness_file or settings.data_dir / "witness" / "checkpoints.jsonl"


def witness_line(record: CheckpointRecord) -> bytes:
    """One line of the witness file: the checkpoint as JSON, note and signature in base64."""
    entry = {
        "tenant": record.tenant_id,
        "tree_size": record.tree_size,
        "root_hash": record.root_hash.hex(),
        "head_hash": record.head_hash.hex(),
        "issued_at": utc_iso(record.issued_at),
        "key_id": record.key_id,
        "signed_note": base64.b64encode(record.signed_note).decode("ascii"),
        "signature": base64.b64encode(record.signature).decode("ascii"),
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    """Holds a lock beside the witness file: shared to append, exclusive to compact.

    Appends from several processes only need O_APPEND; the lock keeps a compaction from
    replacing the file while one of them writes into the file being replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, mode)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def append_witness(path: Path, record: CheckpointRecord) -> None:
    """Appends a checkpoint to the witness file and waits until it is on disk.

    One `write` with O_APPEND per line, so that several processes can share the file.

    Args:
        path: The witness file; it and its folder are created if missing.
        record: The checkpoint.
    """
    with _locked(path, fcntl.LOCK_SH):
        append_line(path, witness_line(record))


def append_line(path: Path, data: bytes) -> None:
    """Appends one line with one `write` (O_APPEND) and waits until it is on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(descriptor, data)
        if written != len(data):  # pragma: no cover - a full disk
            raise OSError(f"short write to the witness file {path}")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """What verification reads of one line of the witness file.

    Attributes:
        tree_size: The checkpoint's tree size.
        root_hash: Its root, in hex.
        issued_at: When it was signed.
    """

    tree_size: int
    root_hash: str
    issued_at: datetime

    @property
    def point(self) -> RetainedPoint:
        """What the retention rule reads of it (the file does not know cosignatures)."""
        return RetainedPoint(self.tree_size, self.issued_at)


def _entries(lines: Iterator[str]) -> Iterator[tuple[str, str, WitnessedCheckpoint | None]]:
    """(line, tenant, checkpoint) for each line; a line that cannot be read has no tenant."""
    for line in lines:
        try:
            item = json.loads(line)
            found = WitnessedCheckpoint(
                int(item["tree_size"]),
                str(item["root_hash"]),
                datetime.fromisoformat(str(item["issued_at"]).replace("Z", "+00:00")),
            )
            yield line, str(item["tenant"]), found
        except (ValueError, KeyError, TypeError):
            yield line, "", None  # a line cut by a crash, or not a checkpoint


def read_witnessed(path: Path, tenant: str) -> list[WitnessedCheckpoint]:
    """The tenant's checkpoints in the witness file (none when there is no file).

    The file holds what the retention rule keeps (`compact`) and what was signed since the
    last compaction: a few thousand lines per tenant and year, read as a stream.
    """
    try:
        stream = path.open(encoding="utf-8")
    except FileNotFoundError:
        return []
    with stream:
        return [found for _, name, found in _entries(stream) if found and name == tenant]


def compact(
    path: Path, kept_of: Callable[[str, list[RetainedPoint]], frozenset[int]]
) -> tuple[int, int]:
    """Rewrites the witness file with only the lines the retention rule keeps, atomically.

    Under the exclusive lock (no append meanwhile), in two reads of the file: the first
    gathers each tenant's checkpoints, the second writes the kept lines, in their order, to a
    temporary file beside it, which is synced and renamed over the file, then the folder is
    synced. A crash leaves the old file or the new one, never half of one. Lines that cannot
    be read are kept as they are. Only the checkpoints' sizes and times are held in memory,
    not the lines (the first pass after an upgrade reads months of them).

    Args:
        path: The witness file.
        kept_of: (tenant, its checkpoints in the file) -> the tree sizes the rule keeps.

    Returns:
        (lines kept, lines dropped); (0, 0) when there is no file.
    """
    with _locked(path, fcntl.LOCK_EX):
        by_tenant: dict[str, list[RetainedPoint]] = {}
        lines = 0
        try:
            with path.open(encoding="utf-8") as stream:
                for _, tenant, found in _entries(stream):
                    lines += 1
                    if found is not None:
                        by_tenant.setdefault(tenant, []).append(found.point)
        except FileNotFoundError:
            return 0, 0
        kept = {tenant: kept_of(tenant, points) for tenant, points in by_tenant.items()}
        dropped = sum(
            p.tree_size not in kept[tenant] for tenant, points in by_tenant.items() for p in points
        )
        if dropped:
            with path.open(encoding="utf-8") as stream:
                _replace(
                    path,
                    (
                        line if line.endswith("\n") else line + "\n"
                        for line, tenant, found in _entries(stream)
                        if found is None or found.tree_size in kept[tenant]
                    ),
                )
        return lines - dropped, dropped


def _replace(path: Path, lines: Iterable[str]) -> None:
    """Writes `lines` to a temporary file, syncs it, renames it over `path`, syncs the
    folder."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
