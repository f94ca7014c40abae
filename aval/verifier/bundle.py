"""Offline verification of an exported trail: a folder anyone can check without Aval's database.

A bundle is a folder holding `events.jsonl` (one event per line, as ExportEvents writes them),
`checkpoints.jsonl` (the signed checkpoints, as the witness file holds them), `public_key.txt`
(the hex Ed25519 public key that signs the checkpoints), `manifest.json` (what is inside, with
the SHA-256 of each file) and `README.md` for the recipient.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aval.verifier import signed_note
from aval.verifier.chain_verifier import ChainVerifier, NoteParser, Problem, Report
from aval.verifier.events import AuditEvent
from aval.verifier.policy_replay import PolicyReplay
from aval.verifier.signed_note import SignatureLine
from aval.verifier.witness_policy import WitnessPolicy, check_witnesses

EVENTS = "events.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
PUBLIC_KEY = "public_key.txt"
MANIFEST = "manifest.json"
README = "README.md"


@dataclass(frozen=True)
class BundleCheckpoint:
    """A checkpoint as the bundle carries it."""

    tenant: str
    tree_size: int
    root_hash: bytes
    head_hash: bytes
    signed_note: bytes
    signature: bytes
    # The signature lines of the checkpoint's whole signed note (`note` in checkpoints.jsonl):
    # the deployment's, then the witnesses' cosignatures; empty without a note.
    cosignatures: tuple[SignatureLine, ...] = ()


class BundleError(ValueError):
    """The folder is not a readable bundle; the message says what is missing or malformed."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def event_from_line(line: str) -> AuditEvent:
    """An event from one line of `events.jsonl` (the JSON Lines format of ExportEvents)."""
    item = json.loads(line)
    canonical = base64.b64decode(item["canonical"])
    body = {
        "schema_version": item["schema_version"],
        "event_id": item["event_id"],
        "tenant": item["tenant"],
        "occurred_at": item["occurred_at"],
        "decision_id": item["decision_id"],
        "kind": item["kind"],
        "actor": {"id": item["actor_id"], "type": item["actor_type"]},
        "trace_id": item["trace_id"],
        "data": item["data"],
    }
    return AuditEvent(
        tenant_id=item["tenant"],
        seq=int(item["seq"]),
        event_id=uuid.UUID(item["event_id"]),
        occurred_at=datetime.fromisoformat(item["occurred_at"].replace("Z", "+00:00")),
        decision_id=uuid.UUID(item["decision_id"]) if item["decision_id"] else None,
        kind=item["kind"],
        actor_id=item["actor_id"],
        actor_type=item["actor_type"],
        trace_id=item["trace_id"],
        schema_version=int(item["schema_version"]),
        body=body,
        canonical=canonical,
        prev_hash=bytes.fromhex(item["prev_hash"]),
        hash=bytes.fromhex(item["hash"]),
    )


def checkpoint_from_line(line: str) -> BundleCheckpoint:
    item = json.loads(line)
    note = item.get("note") or ""
    lines = signed_note.parse_note(note.encode("utf-8")).signatures if note else ()
    return BundleCheckpoint(
        tenant=item["tenant"],
        tree_size=int(item["tree_size"]),
        root_hash=bytes.fromhex(item["root_hash"]),
        head_hash=bytes.fromhex(item["head_hash"]),
        signed_note=base64.b64decode(item["signed_note"]),
        signature=base64.b64decode(item["signature"]),
        cosignatures=lines,
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line


def _read_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise BundleError(f"{folder} is not a bundle: {name} is missing")
    return path


def verify_bundle(
    folder: Path,
    *,
    public_key: bytes | None,
    signature_ok: Callable[[bytes, bytes, bytes], bool],
    parse_note: NoteParser,
    on_progress: Callable[[int], None] | None = None,
    policy: WitnessPolicy | None = None,
    strict: bool = False,
) -> list[Report]:
    """Verifies every tenant of a bundle: chain, checkpoints against the public key, and the
    review policy of every decision re-proved from its events (`policy_replay`).

    Args:
        folder: The bundle.
        public_key: The raw Ed25519 public key to trust; the bundle's own `public_key.txt`
            when None (which proves only that the bundle is consistent with itself: compare
            its key id with one obtained another way).
        signature_ok: `(public_key, note, signature) -> bool`.
        parse_note: Reads a signed note's fields.
        on_progress: Called with the number of events read, every 10,000 events.
        policy: The witness policy the checkpoints' cosignatures must meet, if any.
        strict: Events that no verified signature covers are a problem (`unsigned_events`);
            each report counts them either way.

    Returns:
        One report per tenant found in the bundle.

    Raises:
        BundleError: a file is missing or a line cannot be read.
    """
    key = public_key
    if key is None:
        key = bytes.fromhex(_read_file(folder, PUBLIC_KEY).read_text().split()[0])
    manifest_problems = _check_manifest(folder)
    checkpoints: dict[str, list[BundleCheckpoint]] = {}
    for number, line in _lines(_read_file(folder, CHECKPOINTS)):
        try:
            checkpoint = checkpoint_from_line(line)
        except (ValueError, KeyError) as exc:
            raise BundleError(f"{CHECKPOINTS} line {number}: {exc}") from exc
        checkpoints.setdefault(checkpoint.tenant, []).append(checkpoint)
    verifiers: dict[str, ChainVerifier] = {}
    replays: dict[str, PolicyReplay] = {}
    for read, (number, line) in enumerate(_lines(_read_file(folder, EVENTS)), start=1):
        try:
            event = event_from_line(line)
        except (ValueError, KeyError) as exc:
            raise BundleError(f"{EVENTS} line {number}: {exc}") from exc
        verifier = verifiers.get(event.tenant_id)
        if verifier is None:
            verifier = verifiers[event.tenant_id] = ChainVerifier(
                event.tenant_id,
                checkpoints.get(event.tenant_id, []),
                signature_ok=lambda note, signature: signature_ok(key, note, signature),
                parse_note=parse_note,
            )
        verifier.feed(event)
        replays.setdefault(event.tenant_id, PolicyReplay()).feed(event)
        if on_progress is not None and read % 10_000 == 0:
            on_progress(read)
    reports = []
    for tenant in sorted(set(verifiers) | set(checkpoints)):
        verifier = verifiers.get(tenant) or ChainVerifier(
            tenant,
            checkpoints.get(tenant, []),
            signature_ok=lambda note, signature: signature_ok(key, note, signature),
            parse_note=parse_note,
        )
        verifier.finish_checkpoints()
        if policy is not None:
            check_witnesses(verifier.report, tenant, checkpoints.get(tenant, []), policy)
        if strict:
            verifier.report.require_signed(tenant)
        replay = replays.get(tenant)
        for decision, violations in replay.violations().items() if replay else ():
            verifier.check_facts(decision, (), violations)
        reports.append(verifier.report)
    if manifest_problems:
        if not reports:
            reports.append(Report())
        reports[0].problems[:0] = manifest_problems
    return reports


def _check_manifest(folder: Path) -> list[Problem]:
    path = folder / MANIFEST
    if not path.is_file():
        return [Problem("manifest_missing", "", 0, "", f"{MANIFEST} is missing")]
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for name, expected in sorted(manifest.get("sha256", {}).items()):
        target = folder / name
        if not target.is_file() or sha256_file(target) != expected:
            problems.append(
                Problem("file_changed", "", 0, "", f"{name} differs from the manifest's hash")
            )
    return problems
