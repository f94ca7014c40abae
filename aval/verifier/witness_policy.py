"""The witness policy: which witnesses' cosignatures a checkpoint needs, and how many of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aval.verifier import signed_note
from aval.verifier.chain_verifier import Problem, Report
from aval.verifier.signed_note import MalformedNote, SignatureLine, VerifierKey

# The most witness keys one policy names.
MAX_WITNESSES = 16


class WitnessedCheckpoint(Protocol):
    """What the policy needs of a checkpoint: its signed text and the cosignature lines."""

    @property
    def tree_size(self) -> int: ...
    @property
    def signed_note(self) -> bytes: ...
    @property
    def cosignatures(self) -> tuple[SignatureLine, ...]: ...


@dataclass(frozen=True)
class WitnessPolicy:
    """At least `quorum` of these witness keys must have cosigned the latest checkpoint.

    Attributes:
        keys: The trusted witnesses' keys (cosignature/v1).
        quorum: How many distinct keys of them (1 to len(keys)).
    """

    keys: tuple[VerifierKey, ...]
    quorum: int


def parse_policy(key_strings: Iterable[str], quorum: int) -> WitnessPolicy | None:
    """A policy from verifier key strings and a quorum; None when no key is given.

    Args:
        key_strings: Witnesses' verifier key strings (type 0x04).
        quorum: At least this many of them; 0 means 1.

    Returns:
        The policy, or None without keys.

    Raises:
        ValueError: A key string is malformed or not a witness's, a key is named twice, too
            many keys, or a quorum above the number of keys (or below 0).
    """
    keys: list[VerifierKey] = []
    for text in key_strings:
        key = signed_note.parse_verifier_key(text)
        if key.key_type != signed_note.COSIGNATURE_V1:
            raise MalformedNote(f"{key.name}: not a witness's key (cosignature/v1, type 0x04)")
        if key in keys:
            raise ValueError(f"the witness key {key.name} is named twice")
        keys.append(key)
    if len(keys) > MAX_WITNESSES:
        raise ValueError(f"at most {MAX_WITNESSES} witness keys")
    if not keys:
        if quorum:
            raise ValueError("a witness quorum needs witness keys (--witness)")
        return None
    if not 0 <= quorum <= len(keys):
        raise ValueError(f"the quorum {quorum} is not between 1 and {len(keys)} witnesses")
    return WitnessPolicy(tuple(keys), quorum or 1)


@dataclass(frozen=True)
class CosignatureCheck:
    """One signature line of a checkpoint's note, and what a set of trusted keys says of it.

    Attributes:
        line: The line.
        key: The trusted key that made it (its name and key ID match); None for any other.
        verified: Whether `key` verifies it over the checkpoint's signed text.
    """

    line: SignatureLine
    key: VerifierKey | None
    verified: bool


def note_signatures(text: Any) -> tuple[SignatureLine, ...]:
    """The signature lines of a checkpoint's whole signed note: the log's, then the witnesses'.

    None when `text` is not a note's text, is empty (a checkpoint of the first format), or is
    malformed (which the checks of the note itself name).
    """
    if not isinstance(text, str) or not text:
        return ()
    try:
        return signed_note.parse_note(text.encode("utf-8")).signatures
    except MalformedNote:
        return ()


def cosignature_checks(
    checkpoint: WitnessedCheckpoint, keys: Sequence[VerifierKey]
) -> list[CosignatureCheck]:
    """Each signature line of the checkpoint, checked when a trusted key made it.

    Args:
        checkpoint: The checkpoint and its lines.
        keys: The trusted witnesses' keys (distinct).

    Returns:
        One check a line, in the note's order.
    """
    checks = []
    for line in checkpoint.cosignatures:
        key = next((k for k in keys if line.made_by(k)), None)
        verified = key is not None and (
            signed_note.signature_verifies(key, checkpoint.signed_note, line) is not None
        )
        checks.append(CosignatureCheck(line, key, verified))
    return checks


def check_witnesses(
    report: Report,
    tenant_id: str,
    checkpoints: Sequence[WitnessedCheckpoint],
    policy: WitnessPolicy,
) -> None:
    """Checks the checkpoints' cosignatures against the policy; adds problems to the report.

    Every cosignature of a trusted key is checked (`bad_cosignature` when it does not verify);
    others are ignored. The latest checkpoint must be cosigned by at least `quorum` trusted keys
    (`witness_quorum_not_met`): the trail up to it is then the one the witnesses saw, since
    verification also rebuilds every checkpoint's root from the events.

    Args:
        report: The verification's report; gets the problems, `cosignatures_verified` and
            `witnessed_tree_size`.
        tenant_id: The tenant.
        checkpoints: Its checkpoints, in any order.
        policy: The policy.
    """
    ordered = sorted(checkpoints, key=lambda c: c.tree_size)
    for checkpoint in ordered:
        signers: set[VerifierKey] = set()
        for check in cosignature_checks(checkpoint, policy.keys):
            if check.key is None:
                continue
            if not check.verified:
                report.problems.append(
                    Problem(
                        "bad_cosignature",
                        tenant_id,
                        checkpoint.tree_size,
                        "",
                        f"the cosignature of witness {check.key.name} does not verify",
                    )
                )
            else:
                signers.add(check.key)
        report.cosignatures_verified += len(signers)
        if len(signers) >= policy.quorum:
            report.witnessed_tree_size = checkpoint.tree_size
    latest = ordered[-1].tree_size if ordered else 0
    if not ordered or report.witnessed_tree_size != latest:
        report.problems.append(
            Problem(
                "witness_quorum_not_met",
                tenant_id,
                latest,
                "",
                # Proofs check one checkpoint, not always the trail's latest: named by size.
                (
                    f"the checkpoint of {latest} events (the latest checked) is not"
                    if ordered
                    else "there is no checkpoint: none is"
                )
                + f" cosigned by {policy.quorum} of the {len(policy.keys)} trusted witnesses"
                + (
                    f" (the latest that is covers {report.witnessed_tree_size} events)"
                    if report.witnessed_tree_size
                    else ""
                ),
            )
        )
