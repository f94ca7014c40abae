"""A decision's inclusion proofs for inspectors: each checked by the console as `aval audit
prove` checks it (the event's bytes up the audit path to the root the checkpoint signs), and
the decision's own bundle: its record, events and proofs with the checkpoints they lead to."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.json_format import MessageToDict, MessageToJson

from aval.clients.cli.bundle import checkpoint_line
from aval.clients.cli.messages import Messages, language_of
from aval.clients.cli.proof_witnesses import checked_cosignatures
from aval.clients.cli.proofs import ProofFailed, check_inclusion
from aval.v1 import audit_pb2
from aval.verifier.signed_note import VerifierKey
from aval.verifier.witness_policy import CosignatureCheck

DECISION_README = """\
# Décision {decision} — lot de vérification / verification bundle

| fichier / file | contenu / content |
|---|---|
| `decision.json` | la décision telle que la passerelle la détient / the decision as held |
| `events.jsonl` | ses événements, dans l'ordre de la piste / its events, in trail order |
| `proofs.jsonl` | la preuve d'inclusion (RFC 9162) de chaque événement déjà couvert |
| `checkpoints.jsonl` | les points de contrôle signés auxquels ces preuves mènent |
| `public_key.txt` | la clé publique Ed25519 (hex) qui les signe / the signing key |
| `explanation.{language}.md` | l'explication pour la personne / the citizen's explanation |
| `dossier.{language}.md` | le dossier complet pour l'inspection / the inspector's record |

Pour chaque preuve / for each proof: `SHA-256(0x00 || base64decode(event.canonical))` puis le
chemin `audit_path` (hex) mène à `root_hash` du point de contrôle de `tree_size` événements
(RFC 9162, §2.1.3.2) ; ce point de contrôle signe (Ed25519) `signed_note`. Comparez
l'empreinte de la clé avec celle que la collectivité publie par un autre canal.
`note` est la note signée C2SP entière (signed-note, tlog-checkpoint) : `signed_note`, une
ligne vide, la signature de la collectivité puis les cosignatures des témoins (tlog-cosignature)
/ the whole C2SP signed note, with the witnesses' cosignatures.
"""


@dataclass(frozen=True)
class CheckedProof:
    """A proof, why the console could not check it (None when it holds), and the witnesses'
    cosignatures of its checkpoint, each checked against the deployment's witnesses."""

    proof: audit_pb2.ProveInclusionResponse
    failure: str | None
    cosignatures: Sequence[CosignatureCheck] = ()
    # The deployment's witnesses that have not cosigned the checkpoint (their key names).
    missing: Sequence[str] = ()


def checked(
    proofs: Sequence[audit_pb2.ProveInclusionResponse],
    public_key_hex: str,
    language: str,
    witnesses: Sequence[VerifierKey] = (),
) -> list[CheckedProof]:
    """Each proof checked here, its checkpoint's signature against `public_key_hex` (the
    gateway's key; not checked when empty) and its cosignatures against `witnesses` (the keys
    of AVAL_WITNESSES_FILE)."""
    t = Messages(language_of(language))
    key = bytes.fromhex(public_key_hex) if public_key_hex else None
    found = []
    for proof in proofs:
        cosignatures = checked_cosignatures(proof.checkpoint, witnesses)
        signed = {c.key for c in cosignatures}
        missing = [w.name for w in witnesses if w not in signed]
        failure = None
        try:
            check_inclusion(t, proof, event_ref=str(proof.event.seq), tree_size=0, public_key=key)
        except ProofFailed as failed:
            failure = str(failed)
        found.append(CheckedProof(proof, failure, cosignatures, missing))
    return found


def decision_bundle(
    explained: audit_pb2.ExplainDecisionResponse,
    citizen_text: str,
    listed: audit_pb2.ListCheckpointsResponse,
    language: str,
) -> bytes:
    """The decision's bundle as a .zip (small: one decision's events and proofs)."""
    used = {p.checkpoint.tree_size for p in explained.proofs}
    checkpoints = [c for c in listed.checkpoints if c.tree_size in used]
    files = {
        "README.md": DECISION_README.format(decision=explained.decision.id, language=language),
        "decision.json": MessageToJson(explained.decision, sort_keys=True),
        "events.jsonl": "".join(
            json.dumps(MessageToDict(e), sort_keys=True) + "\n" for e in explained.events
        ),
        "proofs.jsonl": "".join(_proof_line(p) + "\n" for p in explained.proofs),
        "checkpoints.jsonl": "".join(checkpoint_line(c) + "\n" for c in checkpoints),
        "public_key.txt": f"{listed.public_key}\n",
        f"explanation.{language}.md": citizen_text,
        f"dossier.{language}.md": explained.text,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"decision-{explained.decision.id}/{name}", text)
    return out.getvalue()


def _proof_line(proof: audit_pb2.ProveInclusionResponse) -> str:
    return json.dumps(
        {
            "seq": proof.event.seq,
            "event_id": proof.event.event_id,
            "leaf_index": proof.leaf_index,
            "tree_size": proof.checkpoint.tree_size,
            "root_hash": proof.checkpoint.root_hash,
            "audit_path": [node.hex() for node in proof.audit_path],
        },
        sort_keys=True,
    )
