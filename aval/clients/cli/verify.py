"""`aval audit verify`: online with a progress bar, or `--offline BUNDLE` with no server at all."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aval.clients.cli import terminal
from aval.clients.cli.messages import Messages
from aval.clients.cli.output import Printer
from aval.clients.sdk.client import Client
from aval.contract import verification_report
from aval.v1 import audit_pb2

if TYPE_CHECKING:
    pass


def parse_since(text: str | None) -> datetime | None:
    """`--since`: RFC 3339, or a date (midnight UTC). Raises ValueError."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_options(verify: argparse.ArgumentParser, t: Messages) -> None:
    """The options of `aval audit verify`."""
    verify.add_argument("--since", metavar="DATE", help=t("help.verify_since"))
    verify.add_argument("--offline", metavar="BUNDLE", type=Path, help=t("help.offline"))
    verify.add_argument("--public-key", metavar="KEY", help=t("help.public_key"))
    add_witness_options(verify, t, "verify")
    verify.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=t("help.verify_strict"),
    )


def add_witness_options(parser: argparse.ArgumentParser, t: Messages, command: str) -> None:
    """`--witness` and `--witness-quorum`: the witness policy (witness_policy.parse_policy),
    with the help texts of `command` (`verify`, `prove`)."""
    parser.add_argument(
        "--witness", action="append", default=[], metavar="VKEY", help=t(f"help.{command}_witness")
    )
    parser.add_argument(
        "--witness-quorum",
        type=int,
        default=0,
        metavar="K",
        help=t(f"help.{command}_witness_quorum"),
    )


class _ProgressBar:
    """One line on stderr, rewritten in place, only when stderr is a terminal."""

    def __init__(self, t: Messages, enabled: bool) -> None:
        self._t = t
        self._enabled = enabled and sys.stderr.isatty()
        self._shown = False

    def update(self, checked: int, total: int) -> None:
        if not self._enabled:
            return
        share = f" ({100 * checked // total} %)" if total else ""
        terminal.overwrite_line(self._t("verify_progress", checked=checked, total=total) + share)
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")


def verify_online(
    client: Client, args: argparse.Namespace, show: Printer, t: Messages
) -> audit_pb2.VerifyChainResponse:
    """Runs VerifyTrail, drawing progress; returns the final report."""
    bar = _ProgressBar(t, enabled=not args.json)
    report = audit_pb2.VerifyChainResponse()
    try:
        updates = client.verify_trail(
            tenant=args.tenant,
            since=parse_since(args.since),
            strict=bool(args.strict),
            witnesses=args.witness,
            witness_quorum=args.witness_quorum,
        )
        for update in updates:
            if update.HasField("progress"):
                bar.update(update.progress.events_checked, update.progress.events_total)
            else:
                report = update.report
    finally:
        bar.close()
    show.verification(report)
    return report


def verify_offline(
    args: argparse.Namespace, show: Printer, t: Messages
) -> list[audit_pb2.VerifyChainResponse]:
    """Verifies an exported bundle with no database and no server; returns one report a tenant.

    Raises:
        BundleError: the folder is not a readable bundle.
        ValueError: the public key cannot be read.
    """
    # Imported here: the online commands need none of this.
    from aval.verifier.bundle import (
        SCOPE_FILTERED,
        bundle_scope,
        holds_whole_decisions,
        verify_bundle,
    )
    from aval.verifier.notes import parse_note, read_public_key, verify_signature
    from aval.verifier.witness_policy import parse_policy

    policy = parse_policy(args.witness, args.witness_quorum)
    key = None
    if args.public_key:
        path = Path(args.public_key)
        key = read_public_key(path.read_text() if path.is_file() else args.public_key)
    bar = _ProgressBar(t, enabled=not args.json)
    try:
        reports = verify_bundle(
            args.offline,
            public_key=key,
            # With a trusted key, events no signature covers fail unless --no-strict.
            strict=args.strict if args.strict is not None else key is not None,
            signature_ok=verify_signature,
            parse_note=parse_note,
            on_progress=lambda read: bar.update(read, 0),
            policy=policy,
        )
    finally:
        bar.close()
    responses = [verification_report(report) for report in reports]
    for response in responses:
        show.verification(response)
    if key is None and not args.json:
        print(t("verify_own_key"), file=sys.stderr)
    if bundle_scope(args.offline) == SCOPE_FILTERED and not args.json:
        whole = holds_whole_decisions(args.offline)
        print(
            t("verify_whole_decisions_bundle" if whole else "verify_filtered_bundle"),
            file=sys.stderr,
        )
    return responses
