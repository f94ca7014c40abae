"""`aval audit export --bundle DIR`: a self-contained folder a recipient verifies offline.

A bundle holds one tenant's events: all of them (scope `tenant`: the hash chain is checked
from the first), or those the export's filters select (scope `filtered`: each event carries its
RFC 9162 inclusion proof against the signed checkpoint the bundle carries). Its README states
every rule needed to verify it without Aval (`bundle_readme`).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aval.clients.cli.bundle_readme import readme
from aval.clients.sdk.client import Client
from aval.clients.sdk.errors import FailedPreconditionError, PermissionDeniedError
from aval.v1 import audit_pb2
from aval.verifier.bundle import (
    CHECKPOINTS,
    EVENTS,
    FORMAT,
    HASHED_FILES,
    MANIFEST,
    PUBLIC_KEY,
    SCOPE_FILTERED,
    SCOPE_TENANT,
    sha256_file,
)
from aval.verifier.bundle import README as README_NAME
from aval.verifier.notes import key_id

# The filters of an export that make a bundle a filtered one (`--tenant` and `--tenants` name
# the tenant; they select no event).
_SELECTING = (
    "decision_id",
    "kind",
    "since",
    "until",
    "decision_type",
    "ai_system",
    "model_version",
    "reviewer",
    "verdict",
    "overrode",
)


class BundleScopeError(ValueError):
    """A bundle holds one tenant: the filters name several."""


@dataclass(frozen=True)
class BundlePlan:
    """What a bundle will hold: its tenant, the filters that select its events, whether each
    event carries its inclusion proof, and the checkpoints it carries."""

    tenant: str
    filters: dict[str, Any]
    listed: audit_pb2.ListCheckpointsResponse
    checkpoints: list[audit_pb2.Checkpoint]

    @property
    def filtered(self) -> bool:
        return bool(self.filters)

    @property
    def proof_tree_size(self) -> int:
        """The tree size the proofs lead to (0: no proof, no checkpoint to prove against)."""
        return self.checkpoints[-1].tree_size if self.filtered and self.checkpoints else 0

    def export_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `Client.export_events` (the format aside)."""
        asked: dict[str, Any] = {"tenant": self.tenant, **self.filters}
        if self.proof_tree_size:
            asked.update(inclusion_proofs=True, proof_tree_size=self.proof_tree_size)
        return asked


def bundle_tenant(filters: Mapping[str, Any]) -> str:
    """The one tenant the export's `tenant` and `tenants` name ("" when none: the caller's).

    Raises:
        BundleScopeError: They name several tenants.
    """
    named = {filters.get("tenant") or ""} | set(filters.get("tenants") or [])
    named.discard("")
    if len(named) > 1:
        raise BundleScopeError(", ".join(sorted(named)))
    return named.pop() if named else ""


def selecting(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters that select events (empty: the whole tenant)."""
    return {
        name: filters[name]
        for name in _SELECTING
        if filters.get(name) is not None and filters.get(name) != ""
    }


def plan_bundle(
    tenant: str,
    filters: dict[str, Any],
    listed: audit_pb2.ListCheckpointsResponse,
) -> BundlePlan:
    """A bundle of `tenant` (resolved) holding what `filters` select, and the latest
    checkpoint: it covers every event it counts (the whole tenant's are checked against its
    root) and every proof of a filtered bundle leads to it. A busy tenant has a checkpoint
    every few seconds; older ones would add nothing a reader can check that this one does not."""
    return BundlePlan(tenant, filters, listed, list(listed.checkpoints)[-1:])


def prepare_bundle(client: Client, filters: Mapping[str, Any]) -> BundlePlan:
    """Resolves the tenant (the caller's home tenant when none is named), signs a checkpoint
    of everything written so far when the caller may, and lists the checkpoints.

    Raises:
        BundleScopeError: The filters name several tenants.
    """
    tenant = bundle_tenant(filters) or client.whoami().tenant
    # When the caller may not, the events after the latest checkpoint are named as unsigned.
    with contextlib.suppress(PermissionDeniedError, FailedPreconditionError):
        client.create_checkpoint(tenant=tenant)
    listed = client.list_checkpoints(tenant=tenant, newest=1)
    return plan_bundle(tenant, selecting(filters), listed)


def write_bundle(client: Client, filters: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Writes the bundle of what an export's filters select into `folder` (created; must not
    exist or be empty). Returns the manifest.

    Raises:
        BundleScopeError: The filters name several tenants.
        FileExistsError: `folder` is not empty.
    """
    plan = prepare_bundle(client, filters)
    begin_bundle(folder, plan)
    events = 0
    with (folder / EVENTS).open("wb") as out:
        for chunk in client.export_events(format="jsonl", **plan.export_arguments()):
            out.write(chunk.chunk)
            events = chunk.events
    return finish_bundle(folder, plan, events)


def checkpoint_line(checkpoint: audit_pb2.Checkpoint) -> str:
    """A signed checkpoint as one line of `checkpoints.jsonl` (bytes in base64; a C2SP
    checkpoint's whole signed note as text)."""
    line = {
        "tenant": checkpoint.tenant,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "head_hash": checkpoint.head_hash,
        "issued_at": _note_time(checkpoint),
        "key_id": checkpoint.key_id,
        "signed_note": base64.b64encode(checkpoint.signed_note).decode(),
        "signature": base64.b64encode(checkpoint.signature).decode(),
    }
    if checkpoint.note:  # a C2SP checkpoint: the whole signed note, cosignatures included
        line.update(origin=checkpoint.origin, note=checkpoint.note)
    return json.dumps(line, sort_keys=True, ensure_ascii=False)


def _note_time(checkpoint: audit_pb2.Checkpoint) -> str:
    """The time as the note spells it (RFC 3339, UTC, microseconds, `Z`)."""
    moment = checkpoint.issued_at.ToDatetime(tzinfo=UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def begin_bundle(folder: Path, plan: BundlePlan) -> None:
    """Starts a bundle in `folder` (created; must not exist or be empty): its checkpoints and
    public key. The caller then writes the events (EVENTS, JSON Lines, read after the
    checkpoints, with `plan.export_arguments()`) and calls `finish_bundle`.

    Raises:
        FileExistsError: `folder` is not empty.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    with (folder / CHECKPOINTS).open("w", encoding="utf-8", newline="\n") as out:
        for checkpoint in plan.checkpoints:
            out.write(checkpoint_line(checkpoint) + "\n")
    verifier_keys = {c.verifier_key for c in plan.checkpoints if c.verifier_key}
    (folder / PUBLIC_KEY).write_text(
        "".join(f"{text}\n" for text in [plan.listed.public_key, *sorted(verifier_keys)]),
        encoding="utf-8",
    )


def _unsigned(folder: Path, plan: BundlePlan, events: int) -> int:
    """How many of the bundle's events no checkpoint it carries covers."""
    if not plan.filtered:
        covered = plan.checkpoints[-1].tree_size if plan.checkpoints else 0
        return max(0, events - covered)
    count = 0
    with (folder / EVENTS).open(encoding="utf-8", newline="\n") as lines:
        for line in lines:
            count += json.loads(line).get("inclusion") is None
    return count


def _filter_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def finish_bundle(
    folder: Path,
    plan: BundlePlan,
    events: int,
) -> dict[str, Any]:
    """Ends a bundle `begin_bundle` started, once its `events` events are written: its README
    and manifest. Returns the manifest."""
    raw_key = bytes.fromhex(plan.listed.public_key)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    filters = {name: _filter_text(value) for name, value in plan.filters.items()}
    scope = SCOPE_FILTERED if plan.filtered else SCOPE_TENANT
    unsigned = _unsigned(folder, plan, events)
    (folder / README_NAME).write_text(
        readme(
            tenant=plan.tenant,
            created_at=created_at,
            scope=scope,
            filters=filters,
            events=events,
            checkpoints=len(plan.checkpoints),
            key_id=key_id(raw_key),
            public_key=plan.listed.public_key,
            unsigned=unsigned,
            proof_tree_size=plan.proof_tree_size,
        ),
        encoding="utf-8",
        newline="\n",
    )
    manifest = {
        "format": FORMAT,
        "tenant": plan.tenant,
        "scope": scope,
        "filters": filters,
        "created_at": created_at,
        "events": events,
        "checkpoints": len(plan.checkpoints),
        "key_id": key_id(raw_key),
        "sha256": {name: sha256_file(folder / name) for name in HASHED_FILES},
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8", newline="\n"
    )
    manifest["unsigned_events"] = unsigned  # for the command's message, not the file
    return manifest
