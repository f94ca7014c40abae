"""``aval audit prove`` and ``aval audit consistency``: fetch RFC 9162 proofs, check them here."""

from __future__ import annotations

import base64
import binascii
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from aval.clients.cli.checkpoints import checkpoint_lines, count_type
from aval.clients.cli.messages import Messages
from aval.clients.cli.proof_witnesses import (
    checked_cosignatures,
    cosignature_document,
    cosignature_lines,
    witness_problems,
)
from aval.clients.cli.session import AddCommand, Session
from aval.clients.cli.verify import add_witness_options
from aval.contract.reports import wire_problem
from aval.v1 import audit_pb2
from aval.verifier import merkle
from aval.verifier.chain import parse_json
from aval.verifier.witness_policy import parse_policy


class ProofFailed(Exception):
    """A check of a proof failed; the message says which, in the person's language."""


def add_commands(audit: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``audit prove`` and ``audit consistency`` to the parser.

    Args:
        audit: The subcommands of ``audit``.
        add: The parser's helper that adds one command with its help text.
        t: The texts of help and errors.
    """
    prove = add(audit, "prove", "help.prove")
    prove.add_argument("event", metavar="EVENT", help=t("help.prove_event"))
    prove.add_argument(
        "--tree-size", type=count_type(t, 0), default=0, metavar="N", help=t("help.tree_size")
    )
    add_witness_options(prove, t, "prove")
    prove.set_defaults(command="audit prove")
    consistency = add(audit, "consistency", "help.consistency")
    consistency.add_argument("old", type=count_type(t, 1), metavar="OLD", help=t("help.old_size"))
    consistency.add_argument("new", type=count_type(t, 0), metavar="NEW", help=t("help.new_size"))
    consistency.add_argument("--old-checkpoint", metavar="FILE", help=t("help.old_checkpoint"))
    consistency.set_defaults(command="audit consistency")
    for parser in (prove, consistency):
        parser.add_argument("--public-key", metavar="KEY", help=t("help.proof_public_key"))
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))


def _signing() -> Any:
    # Imported here: the other commands need none of it, and it loads `cryptography`.
    from aval.verifier import notes

    return notes


def _trusted_key(text: str | None) -> bytes | None:
    """The raw public key of ``--public-key`` (a file, hex or PEM), or None.

    Raises:
        ProofFailed: The key cannot be read.
    """
    if not text:
        return None
    path = Path(text)
    signing = _signing()
    try:
        return bytes(signing.read_public_key(path.read_text() if path.is_file() else text))
    except (OSError, signing.SigningKeyError) as err:
        raise ProofFailed(str(err)) from err


def _same_event(asked: str, event: audit_pb2.AuditEvent) -> bool:
    if asked.isdigit():
        return int(asked) == event.seq
    try:
        return uuid.UUID(asked) == uuid.UUID(event.event_id)
    except ValueError:
        return False


def _hash(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return b""


def check_checkpoint(
    t: Messages, checkpoint: audit_pb2.Checkpoint, public_key: bytes | None
) -> None:
    """Checks that a checkpoint's signed note states its fields, and its signature with a key.

    Args:
        t: The texts of the person's language.
        checkpoint: The checkpoint, as the gateway sent it.
        public_key: The raw Ed25519 key to check the signature with; not checked when None.

    Raises:
        ProofFailed: The note does not match the fields, or the signature is not valid.
    """
    signing = _signing()
    size = checkpoint.tree_size
    try:
        note = signing.parse_note(checkpoint.signed_note)
    except ValueError as err:
        raise ProofFailed(t("proof.note_unreadable", size=size, error=err)) from err
    stated = {
        "tenant": checkpoint.tenant,
        "tree_size": str(size),
        "root_hash": checkpoint.root_hash,
        "head_hash": checkpoint.head_hash,
    }
    # A note of the first format names its key; a C2SP checkpoint's signature line does.
    if "key_id" in note:
        stated["key_id"] = checkpoint.key_id
    for name, value in stated.items():
        if note.get(name) != value:
            raise ProofFailed(t("proof.note_mismatch", size=size, field=name))
    if public_key is not None and not signing.verify_signature(
        public_key, checkpoint.signed_note, checkpoint.signature
    ):
        raise ProofFailed(t("proof.bad_signature", size=size))


def check_inclusion(
    t: Messages,
    response: audit_pb2.ProveInclusionResponse,
    *,
    event_ref: str,
    tree_size: int,
    public_key: bytes | None,
) -> None:
    """Checks an inclusion proof here, from the event's own bytes up to the signed root.

    Args:
        t: The texts of the person's language.
        response: The gateway's answer.
        event_ref: The event asked for: its sequence number or its id.
        tree_size: The checkpoint size asked for; 0 for the latest.
        public_key: The trusted key that must have signed the checkpoint; None not to check.

    Raises:
        ProofFailed: What failed, on one line.
    """
    event, checkpoint = response.event, response.checkpoint
    if not _same_event(event_ref, event):
        raise ProofFailed(t("proof.other_event", asked=event_ref, got=event.seq))
    if tree_size and checkpoint.tree_size != tree_size:
        raise ProofFailed(t("proof.other_checkpoint", asked=tree_size, got=checkpoint.tree_size))
    if response.leaf_index != event.seq - 1:
        raise ProofFailed(t("proof.wrong_index", index=response.leaf_index, seq=event.seq))
    if event.tenant != checkpoint.tenant:
        raise ProofFailed(t("proof.other_tenant", event=event.tenant, checkpoint=checkpoint.tenant))
    check_checkpoint(t, checkpoint, public_key)
    leaf = merkle.leaf_hash(event.canonical)
    try:
        included = merkle.verify_inclusion(
            leaf,
            response.leaf_index,
            checkpoint.tree_size,
            list(response.audit_path),
            _hash(checkpoint.root_hash),
        )
    except merkle.MalformedHash as exc:
        raise ProofFailed(t("proof.malformed_hash", error=exc)) from exc
    if not included:
        raise ProofFailed(t("proof.not_included", seq=event.seq, size=checkpoint.tree_size))


def held_checkpoint(t: Messages, path: Path, size: int) -> audit_pb2.Checkpoint:
    """The checkpoint of `size` events in a file of checkpoints a person holds: a bundle's
    `checkpoints.jsonl`, or the bundle's folder.

    Raises:
        ProofFailed: The file cannot be read, or holds no checkpoint of that size.
    """
    if path.is_dir():
        path = path / "checkpoints.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ProofFailed(t("proof.held_unreadable", path=path, error=err.strerror)) from err
    for line in lines:
        try:
            item = parse_json(line)
            if item.get("tree_size") != size:
                continue
            return audit_pb2.Checkpoint(
                tenant=str(item["tenant"]),
                tree_size=size,
                root_hash=str(item["root_hash"]),
                head_hash=str(item["head_hash"]),
                key_id=str(item.get("key_id", "")),
                signed_note=base64.b64decode(item["signed_note"], validate=True),
                signature=base64.b64decode(item["signature"], validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            continue
    raise ProofFailed(t("proof.held_missing", path=path, size=size))


def check_consistency(
    t: Messages,
    response: audit_pb2.ProveConsistencyResponse,
    *,
    old_size: int,
    new_size: int,
    public_key: bytes | None,
) -> None:
    """Checks a consistency proof here, between the two signed roots.

    Args:
        t: The texts of the person's language.
        response: The gateway's answer (its older checkpoint replaced by the one the person
            holds, when they give it: `held_checkpoint`).
        old_size: The older checkpoint's size asked for.
        new_size: The newer checkpoint's size asked for; 0 for the latest.
        public_key: The trusted key that must have signed both checkpoints; None not to check.

    Raises:
        ProofFailed: What failed, on one line.
    """
    old, new = response.old_checkpoint, response.new_checkpoint
    if not old.signed_note:
        raise ProofFailed(t("proof.old_not_kept", size=old_size))
    if old.tree_size != old_size:
        raise ProofFailed(t("proof.other_checkpoint", asked=old_size, got=old.tree_size))
    if new_size and new.tree_size != new_size:
        raise ProofFailed(t("proof.other_checkpoint", asked=new_size, got=new.tree_size))
    check_checkpoint(t, old, public_key)
    check_checkpoint(t, new, public_key)
    try:
        consistent = merkle.verify_consistency(
            old.tree_size,
            new.tree_size,
            _hash(old.root_hash),
            _hash(new.root_hash),
            list(response.proof),
        )
    except merkle.MalformedHash as exc:
        raise ProofFailed(t("proof.malformed_hash", error=exc)) from exc
    if not consistent:
        raise ProofFailed(t("proof.not_consistent", old=old.tree_size, new=new.tree_size))


def _hashes(t: Messages, title: str, hashes: Any) -> list[str]:
    lines = [t(title, count=len(hashes))]
    lines += [f"  {i}. {h.hex()}" for i, h in enumerate(hashes, start=1)]
    return lines


def inclusion_lines(t: Messages, response: audit_pb2.ProveInclusionResponse) -> list[str]:
    """Describes an inclusion proof for a person.

    Args:
        t: The texts of the person's language.
        response: The proof.

    Returns:
        The event, its leaf, the checkpoint, then the audit path, one hash a line.
    """
    e = response.event
    return [
        t("proof.event", seq=e.seq, id=e.event_id, kind=e.kind),
        t("proof.leaf", index=response.leaf_index, hash=merkle.leaf_hash(e.canonical).hex()),
        *checkpoint_lines(t, response.checkpoint),
        *_hashes(t, "proof.path", response.audit_path),
    ]


def consistency_lines(t: Messages, response: audit_pb2.ProveConsistencyResponse) -> list[str]:
    """Describes a consistency proof for a person.

    Args:
        t: The texts of the person's language.
        response: The proof.

    Returns:
        Both checkpoints, then the proof, one hash a line.
    """
    return [
        *checkpoint_lines(t, response.old_checkpoint),
        *checkpoint_lines(t, response.new_checkpoint),
        *_hashes(t, "proof.hashes", response.proof),
    ]


def _fail(t: Messages, reason: str) -> int:
    print(f"{t('error')}: {' '.join(reason.split())}", file=sys.stderr)
    return 1


def _report(
    s: Session,
    response: Message,
    lines: list[str],
    check: Callable[[], None],
    ok: Sequence[str],
    more: dict[str, Any] | None = None,
) -> int:
    """Prints the proof and the outcome of its check; 0 only when it holds."""
    failure = ""
    try:
        check()
    except ProofFailed as err:
        failure = str(err)
    if s.args.json:
        document = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
        document.update(more or {})
        document["verified"] = not failure
        document["failure"] = failure
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for line in lines:
            print(line)
        if not failure:
            for line in ok:
                print(line)
            if not s.args.public_key:
                print(s.t("proof.signature_unchecked"))
    return _fail(s.t, failure) if failure else 0


def audit_prove(s: Session) -> int:
    """``aval audit prove EVENT``: an event's inclusion proof, checked against its checkpoint,
    and that checkpoint's cosignatures against the witness policy of ``--witness``."""
    a = s.args
    try:
        key = _trusted_key(a.public_key)
    except ProofFailed as err:
        return _fail(s.t, s.t("proof.bad_key", error=err))
    try:
        policy = parse_policy(a.witness, a.witness_quorum)
    except ValueError as err:
        return _fail(s.t, s.t("witness_policy_invalid", error=err))
    by_seq = a.event.isdigit()
    response = s.client.prove_inclusion(
        seq=int(a.event) if by_seq else 0,
        event_id="" if by_seq else a.event,
        tree_size=a.tree_size,
        tenant=a.tenant,
    )

    checkpoint = response.checkpoint
    cosignatures = checked_cosignatures(checkpoint, policy.keys if policy else ())
    problems = witness_problems(checkpoint, policy) if policy else []

    def check() -> None:
        check_inclusion(s.t, response, event_ref=a.event, tree_size=a.tree_size, public_key=key)
        if problems:
            first = s.t("at_event", kind=problems[0].kind, seq=problems[0].seq)
            raise ProofFailed(s.t("proof.witnesses_failed", count=len(problems), first=first))

    lines = [
        *inclusion_lines(s.t, response),
        *cosignature_lines(s.t, cosignatures, policy),
        *(s.show.problem_line(wire_problem(p)) for p in problems),
    ]
    ok = [s.t("proof.included", seq=response.event.seq, size=checkpoint.tree_size)]
    if policy is not None:
        ok.append(s.t("chain_witnessed", size=checkpoint.tree_size))
    more = cosignature_document(cosignatures, problems)
    return _report(s, response, lines, check, ok, more)


def audit_consistency(s: Session) -> int:
    """``aval audit consistency OLD NEW``: proof that the trail only grew between checkpoints."""
    a = s.args
    try:
        key = _trusted_key(a.public_key)
    except ProofFailed as err:
        return _fail(s.t, s.t("proof.bad_key", error=err))
    try:
        held = held_checkpoint(s.t, Path(a.old_checkpoint), a.old) if a.old_checkpoint else None
    except ProofFailed as err:
        return _fail(s.t, str(err))
    response = s.client.prove_consistency(old_size=a.old, new_size=a.new, tenant=a.tenant)
    if held is not None:  # the person's own copy is what they trust
        response.old_checkpoint.CopyFrom(held)

    def check() -> None:
        check_consistency(s.t, response, old_size=a.old, new_size=a.new, public_key=key)

    old, new = response.old_checkpoint.tree_size, response.new_checkpoint.tree_size
    ok = [s.t("proof.consistent", old=old, new=new)]
    return _report(s, response, consistency_lines(s.t, response), check, ok)
