"""`aval audit export --bundle DIR`: a self-contained folder a recipient verifies offline."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aval.clients.sdk.client import Client
from aval.v1 import audit_pb2
from aval.verifier.bundle import CHECKPOINTS, EVENTS, MANIFEST, PUBLIC_KEY, sha256_file
from aval.verifier.bundle import README as README_NAME

FORMAT = "aval-bundle/1"

README = """\
# Piste d'audit Aval — lot exporté / exported Aval audit trail

Ce dossier contient la piste d'audit de la collectivité `{tenant}`, exportée le {created_at}.
This folder holds the audit trail of tenant `{tenant}`, exported on {created_at}.

| fichier / file | contenu / content |
|---|---|
| `events.jsonl` | {events} événements, un par ligne, dans l'ordre / events, one a line, in order |
| `checkpoints.jsonl` | {checkpoints} points de contrôle signés / signed checkpoints |
| `public_key.txt` | clé publique Ed25519 (hex) qui les signe, empreinte `{key_id}` / signing key |
| `manifest.json` | ce que contient le lot, avec l'empreinte SHA-256 de chaque fichier |

## Vérifier / Verify

    aval audit verify --offline . --public-key CLÉ_OBTENUE_PAR_UN_AUTRE_CANAL

Ne faites pas confiance à la clé du lot lui-même : comparez son empreinte avec celle que la
collectivité publie par un autre canal. / Do not trust the bundle's own key: compare its
fingerprint with one the authority publishes elsewhere.

## Règles, pour réécrire le vérificateur / Rules, to write your own verifier

- `canonical` (base64) holds the exact bytes hashed: JSON with sorted keys, no spaces, UTF-8.
- Chain: `hash = SHA-256(prev_hash || seq as 8 bytes big-endian || canonical)`; the first
  event's `prev_hash` is 32 zero bytes; `seq` runs 1, 2, 3… without gaps.
- Merkle tree (RFC 9162): leaves are the events' `canonical` bytes in order; leaf hash
  `SHA-256(0x00 || canonical)`, node hash `SHA-256(0x01 || left || right)`.
- A checkpoint signs (Ed25519) `signed_note`, whose lines give the tenant, `tree_size`,
  `root_hash` (the Merkle root of the first `tree_size` events) and `head_hash` (the chain
  hash of event `tree_size`).
"""


def checkpoint_line(checkpoint: audit_pb2.Checkpoint) -> str:
    """A signed checkpoint as one line of `checkpoints.jsonl` (bytes in base64)."""
    return json.dumps(
        {
            "tenant": checkpoint.tenant,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "head_hash": checkpoint.head_hash,
            "issued_at": checkpoint.issued_at.ToDatetime(tzinfo=UTC).isoformat(),
            "key_id": checkpoint.key_id,
            "signed_note": base64.b64encode(checkpoint.signed_note).decode(),
            "signature": base64.b64encode(checkpoint.signature).decode(),
            "note": checkpoint.note,
        },
        sort_keys=True,
    )


def write_bundle(client: Client, tenant: str, folder: Path) -> dict[str, Any]:
    """Writes the bundle of one tenant into `folder` (created; must not exist or be empty).

    Checkpoints are read before the events, so that every checkpoint covers events the bundle
    holds. Returns the manifest.
    """
    listed = client.list_checkpoints(tenant=tenant)
    begin_bundle(folder, listed)
    events = 0
    with (folder / EVENTS).open("wb") as out:
        for chunk in client.export_events(tenant=tenant, format="jsonl"):
            out.write(chunk.chunk)
            events = chunk.events
    return finish_bundle(folder, tenant, listed, events)


def begin_bundle(folder: Path, listed: audit_pb2.ListCheckpointsResponse) -> None:
    """Starts a bundle in `folder` (created; must not exist or be empty): its checkpoints and
    public key. The caller then writes the events (EVENTS, JSON Lines, read after the
    checkpoints) and calls `finish_bundle`.

    Raises:
        FileExistsError: `folder` is not empty.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    with (folder / CHECKPOINTS).open("w", encoding="utf-8") as out:
        for checkpoint in listed.checkpoints:
            out.write(checkpoint_line(checkpoint) + "\n")
    (folder / PUBLIC_KEY).write_text(f"{listed.public_key}\n", encoding="utf-8")


def finish_bundle(
    folder: Path, tenant: str, listed: audit_pb2.ListCheckpointsResponse, events: int
) -> dict[str, Any]:
    """Ends a bundle `begin_bundle` started, once its `events` events are written: its README
    and manifest. Returns the manifest."""
    key_id = listed.checkpoints[-1].key_id if listed.checkpoints else ""
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    (folder / README_NAME).write_text(
        README.format(
            tenant=tenant,
            created_at=created_at,
            events=events,
            checkpoints=len(listed.checkpoints),
            key_id=key_id or "—",
        ),
        encoding="utf-8",
    )
    names = [EVENTS, CHECKPOINTS, PUBLIC_KEY, README_NAME]
    manifest = {
        "format": FORMAT,
        "tenant": tenant,
        "created_at": created_at,
        "events": events,
        "checkpoints": len(listed.checkpoints),
        "key_id": key_id,
        "sha256": {name: sha256_file(folder / name) for name in names},
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest
