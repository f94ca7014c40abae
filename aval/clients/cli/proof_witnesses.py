"""The witnesses' cosignatures of the checkpoint a proof leads to: who cosigned it, and the
witness policy of ``aval audit prove --witness`` checked as ``aval audit verify`` checks it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aval.clients.cli.messages import Messages
from aval.v1 import audit_pb2
from aval.verifier.chain_verifier import Problem, Report
from aval.verifier.signed_note import SignatureLine, VerifierKey
from aval.verifier.witness_policy import (
    CosignatureCheck,
    WitnessPolicy,
    check_witnesses,
    cosignature_checks,
    note_signatures,
)


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint as the gateway sent it, with its witnesses' cosignature lines (the log's
    own signature line left out)."""

    tree_size: int
    signed_note: bytes
    cosignatures: tuple[SignatureLine, ...]


def cosigned(checkpoint: audit_pb2.Checkpoint) -> CosignedCheckpoint:
    """The cosignatures a checkpoint's whole note carries (none for the first format)."""
    # The log signs with the key named after its origin's first part (c2sp tlog-checkpoint).
    log_name = checkpoint.origin.rpartition("/")[0]
    lines = tuple(line for line in note_signatures(checkpoint.note) if line.name != log_name)
    return CosignedCheckpoint(checkpoint.tree_size, checkpoint.signed_note, lines)


def checked_cosignatures(
    checkpoint: audit_pb2.Checkpoint, keys: Sequence[VerifierKey]
) -> list[CosignatureCheck]:
    """Each witness's cosignature of the checkpoint, checked against the trusted keys."""
    return cosignature_checks(cosigned(checkpoint), keys)


def witness_problems(checkpoint: audit_pb2.Checkpoint, policy: WitnessPolicy) -> list[Problem]:
    """What the witness policy finds wrong with the checkpoint (`bad_cosignature`,
    `witness_quorum_not_met`), exactly as verification of the trail names it."""
    report = Report()
    check_witnesses(report, checkpoint.tenant, [cosigned(checkpoint)], policy)
    return report.problems


def _status(t: Messages, check: CosignatureCheck, policy: WitnessPolicy | None) -> str:
    if policy is None:
        return t("proof.cosignature_unchecked")
    if check.key is None:
        return t("proof.cosignature_untrusted")
    return t("proof.cosignature_verified" if check.verified else "proof.cosignature_bad")


def cosignature_lines(
    t: Messages, checks: Sequence[CosignatureCheck], policy: WitnessPolicy | None
) -> list[str]:
    """Describes who cosigned the checkpoint, one witness a line, and what the check found."""
    if not checks:
        return [t("proof.no_cosignature")]
    lines = [t("proof.cosignatures", count=len(checks))]
    for check in checks:
        status = _status(t, check, policy)
        name, key_id = check.line.name, check.line.key_hash.hex()
        lines.append(t("proof.cosignature", witness=name, key_id=key_id, status=status))
    return lines


def cosignature_document(
    checks: Sequence[CosignatureCheck], problems: Sequence[Problem]
) -> dict[str, Any]:
    """The cosignatures and the policy's problems, for ``--json``."""
    return {
        "cosignatures": [
            {
                "witness": check.line.name,
                "keyId": check.line.key_hash.hex(),
                "trusted": check.key is not None,
                "verified": check.verified,
            }
            for check in checks
        ],
        "witnessProblems": [
            {"kind": p.kind, "tenant": p.tenant_id, "seq": p.seq, "detail": p.detail}
            for p in problems
        ],
    }
