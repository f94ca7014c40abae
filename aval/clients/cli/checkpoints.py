"""The ``aval keys generate``, ``aval audit checkpoint`` and ``aval audit checkpoints`` commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aval.clients.cli.messages import Messages
from aval.clients.cli.output import format_time
from aval.clients.cli.session import AddCommand, Session
from aval.v1 import audit_pb2
from aval.verifier.notes import read_public_key
from aval.verifier.signed_note import (
    COSIGNATURE_V1,
    ED25519,
    MalformedNote,
    VerifierKey,
    check_key_name,
)

# The checkpoints `aval audit checkpoints` shows without --newest nor --all.
NEWEST = 20


def count_type(t: Messages, minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number at least `minimum`, refused in the person's language."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(t("not_positive", value=text)) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(t("not_positive", value=text))
        return value

    parse.__name__ = "int"
    return parse


def add_commands(commands: Any, audit: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``keys generate``, ``audit checkpoint`` and ``audit checkpoints`` to the parser.

    Args:
        commands: The top-level subcommands.
        audit: The subcommands of ``audit``.
        add: The parser's helper that adds one command with its help text.
        t: The texts of help and errors.
    """
    keys = add(commands, "keys", "help.keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    generate = add(keys, "generate", "help.keys_generate")
    generate.add_argument("--out", default=".", metavar="DIR", help=t("help.keys_out"))
    names = generate.add_mutually_exclusive_group()
    names.add_argument("--name", default="", metavar="NAME", help=t("help.keys_name"))
    names.add_argument("--witness", default="", metavar="NAME", help=t("help.keys_witness"))
    generate.set_defaults(command="keys generate")
    checkpoint = add(audit, "checkpoint", "help.checkpoint")
    checkpoint.set_defaults(command="audit checkpoint")
    listing = add(audit, "checkpoints", "help.checkpoints")
    listing.set_defaults(command="audit checkpoints")
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument(
        "--newest",
        type=count_type(t, 0),
        default=NEWEST,
        metavar="N",
        help=t("help.checkpoints_newest", count=NEWEST),
    )
    shown.add_argument("--all", action="store_true", help=t("help.checkpoints_all"))
    for parser in (checkpoint, listing):
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _labelled(t: Messages, facts: list[tuple[str, str]]) -> list[str]:
    labelled = [(t(key), value) for key, value in facts]
    width = max(len(label) for label, _ in labelled)
    return [f"{label.ljust(width)}  {value}" for label, value in labelled]


def checkpoint_lines(t: Messages, checkpoint: audit_pb2.Checkpoint) -> list[str]:
    """Describes a signed checkpoint for a person.

    Args:
        t: The texts of the person's language.
        checkpoint: The checkpoint.

    Returns:
        A title, then one ``label  value`` line each for the tenant, size, root, head, key and
        time of signature.
    """
    facts = [
        ("checkpoint.tenant", checkpoint.tenant),
        ("checkpoint.origin", checkpoint.origin or "—"),
        ("checkpoint.size", t("checkpoint.events", count=checkpoint.tree_size)),
        ("checkpoint.root", checkpoint.root_hash),
        ("checkpoint.head", checkpoint.head_hash),
        ("checkpoint.key", checkpoint.key_id),
        ("checkpoint.issued", format_time(checkpoint.issued_at)),
    ]
    return [t("checkpoint.title"), *_labelled(t, facts)]


def checkpoints_lines(
    t: Messages, response: audit_pb2.ListCheckpointsResponse, *, newest: int = 0
) -> list[str]:
    """Describes a tenant's checkpoints as a table, then the public key that verifies them.

    Args:
        t: The texts of the person's language.
        response: The checkpoints and the public key.
        newest: How many were asked for (0: all); when as many came, a line says how to see
            the others.

    Returns:
        The lines.
    """
    lines: list[str] = []
    if not response.checkpoints:
        lines.append(t("checkpoints.empty"))
    else:
        header = [t(f"checkpoints.col.{key}") for key in ("size", "issued", "key", "root")]
        rows = [
            [str(c.tree_size), format_time(c.issued_at), c.key_id, c.root_hash]
            for c in response.checkpoints
        ]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        for row in (header, *rows):
            cells = zip(row, widths, strict=True)
            lines.append("  ".join(cell.ljust(width) for cell, width in cells).rstrip())
    if newest and len(response.checkpoints) >= newest:
        lines.append(t("checkpoints.newest_only", count=newest))
    lines.append(t("checkpoints.public_key", public_key=response.public_key or "—"))
    verifier_key = response.checkpoints[-1].verifier_key if response.checkpoints else ""
    if verifier_key:
        lines.append(t("checkpoints.verifier_key", verifier_key=verifier_key))
    return lines


def audit_checkpoint(s: Session) -> int:
    """``aval audit checkpoint``: has the gateway sign a checkpoint of the trail now."""
    checkpoint = s.client.create_checkpoint(tenant=s.args.tenant)
    if s.args.json:
        s.show.json(checkpoint)
    else:
        _print(checkpoint_lines(s.t, checkpoint))
    return 0


def audit_checkpoints(s: Session) -> int:
    """``aval audit checkpoints``: lists the tenant's newest signed checkpoints (or all that
    the retention rule kept, with --all), oldest first."""
    newest = 0 if s.args.all else s.args.newest
    response = s.client.list_checkpoints(tenant=s.args.tenant, newest=newest)
    if s.args.json:
        s.show.json(response)
    else:
        _print(checkpoints_lines(s.t, response, newest=newest))
    return 0


def keys_generate(args: argparse.Namespace, t: Messages) -> int:
    """``aval keys generate``: writes a new Ed25519 key pair for signing checkpoints.

    Args:
        args: The parsed command line (``out``, ``json``).
        t: The texts of the person's language.

    Returns:
        0 when the key pair was written, 1 otherwise (with a one-line error).
    """
    try:
        # The server package holds the key code; a machine with only the SDK does not sign.
        from aval.service.audit import signing  # type: ignore[import-not-found, unused-ignore]
    except ImportError as err:
        return _fail(t, t("server_missing", error=err))
    for name in (args.name, args.witness):
        try:
            check_key_name(name or "unset")
        except MalformedNote:
            return _fail(t, t("key_name_invalid", name=name))
    folder = Path(args.out)
    try:
        made = signing.generate_key_pair(folder)
    except FileExistsError:
        return _fail(t, t("key_exists", path=folder.resolve() / signing.PRIVATE_KEY_NAME))
    except OSError as err:
        return _fail(t, t("key_unwritable", path=folder.resolve(), error=err.strerror or err))
    public_key = read_public_key(made.public_key_file.read_text(encoding="utf-8"))
    verifier_key = _verifier_key(args, made.key_id, public_key)
    if args.witness:
        export = f"aval witness serve --name {args.witness} --key {made.private_key_file}"
    else:
        export = f"export AVAL_SIGNING_KEY_FILE={made.private_key_file}"
    if args.json:
        document = {
            "key_id": made.key_id,
            "private_key_file": str(made.private_key_file),
            "public_key_file": str(made.public_key_file),
            "public_key": public_key.hex(),
            "verifier_key": verifier_key,
            "export": export,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    print(t("key_generated", key_id=made.key_id))
    print(t("key_private", path=made.private_key_file))
    print(t("key_public", path=made.public_key_file))
    print(t("key_verifier", verifier_key=verifier_key))
    print(export)
    return 0


def _verifier_key(args: argparse.Namespace, key_id: str, public_key: bytes) -> str:
    """The verifier key string of a new key: a witness's (0x04) or a log's (0x01)."""
    if args.witness:
        return VerifierKey(args.witness, COSIGNATURE_V1, public_key).text()
    return VerifierKey(args.name or f"aval-{key_id}", ED25519, public_key).text()


def _fail(t: Messages, reason: str) -> int:
    print(f"{t('error')}: {' '.join(reason.split())}", file=sys.stderr)
    return 1
