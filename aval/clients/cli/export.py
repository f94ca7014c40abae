"""The filters of ``aval audit events`` and ``aval audit export``, and the export itself."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from aval.clients.cli import terminal
from aval.clients.cli.bundle import BundleScopeError, write_bundle
from aval.clients.cli.messages import Messages
from aval.clients.cli.session import AddCommand, Session


def moment_parser(t: Messages) -> Callable[[str], datetime]:
    """The argument type of a date option: RFC 3339, or local time when naive."""

    def parse(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(t("bad_moment", value=value)) from None
        return moment.astimezone() if moment.tzinfo is None else moment  # naive: local time

    return parse


def _tenant_list(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def add_filters(parser: argparse.ArgumentParser, t: Messages) -> None:
    """Adds the filters that ``audit events`` and ``audit export`` share.

    ``--decision``, ``--kind`` and ``--tenant`` are not among them: ``audit events`` has had
    them from the start.

    Args:
        parser: The command's parser.
        t: The texts of help and errors.
    """
    moment = moment_parser(t)
    parser.add_argument(
        "--tenants", type=_tenant_list, default=[], metavar="T1,T2", help=t("help.tenants")
    )
    parser.add_argument("--since", type=moment, metavar="DATE", help=t("help.since_events"))
    parser.add_argument("--until", type=moment, metavar="DATE", help=t("help.until_events"))
    parser.add_argument("--type", default="", metavar="TYPE", help=t("help.type_filter"))
    parser.add_argument("--ai-system", default="", metavar="NAME", help=t("help.ai_system"))
    parser.add_argument(
        "--model-version", default="", metavar="VERSION", help=t("help.model_version")
    )
    parser.add_argument("--reviewer", default="", metavar="ID", help=t("help.reviewer"))
    parser.add_argument("--verdict", choices=("approve", "amend", "reject"), help=t("help.verdict"))
    parser.add_argument("--overrode", choices=("yes", "no"), help=t("help.overrode"))


def add_commands(audit: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``audit export``.

    Args:
        audit: The subcommands of ``audit``.
        add: The parser's helper that adds one command with its help text.
        t: The texts of help and errors.
    """
    export = add(audit, "export", "help.export")
    export.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    export.add_argument("--decision", default="", metavar="ID", help=t("help.decision_filter"))
    export.add_argument("--kind", default="", metavar="K", help=t("help.kind"))
    add_filters(export, t)
    export.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help=t("help.export_format")
    )
    export.add_argument("--out", metavar="FILE", help=t("help.out"))
    export.add_argument("--bundle", metavar="DIR", help=t("help.bundle"))
    export.set_defaults(command="audit export")


def filters_of(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``Client.query_events`` that the command line's filters ask for.

    Args:
        args: The parsed command line of ``audit events`` or ``audit export``.

    Returns:
        The filters, paging aside.
    """
    return {
        "tenant": args.tenant,
        "decision_id": args.decision,
        "kind": args.kind,
        "tenants": args.tenants,
        "since": args.since,
        "until": args.until,
        "decision_type": args.type,
        "ai_system": args.ai_system,
        "model_version": args.model_version,
        "reviewer": args.reviewer,
        "verdict": args.verdict,
        "overrode": None if args.overrode is None else args.overrode == "yes",
    }


@contextlib.contextmanager
def _destination(path: str | None) -> Iterator[IO[bytes]]:
    """Standard output, or a file that appears under its name only once complete."""
    if path is None:
        out = terminal.bytes_out()
        yield out
        out.flush()
        return
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as out:
            yield out
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def audit_export(s: Session) -> int:
    """``aval audit export``: streams the selected events to a file or to standard output.

    With ``--out``, a progress line is kept on standard error when it is a terminal, and a
    summary is printed once the file is complete.

    Args:
        s: The command's session.

    Returns:
        The exit status.
    """
    a = s.args
    if a.bundle:
        return _export_bundle(s)
    progress = a.out is not None and sys.stderr.isatty()
    events = written = 0
    with _destination(a.out) as out:
        for chunk in s.client.export_events(format=a.format, **filters_of(a)):
            out.write(chunk.chunk)
            events, written = chunk.events, written + len(chunk.chunk)
            if progress:
                text = s.t("export_progress", events=events, size=written // 1024)
                terminal.overwrite_line(text)
    if progress:
        print(file=sys.stderr)
    if a.out is not None:
        if a.json:
            print(json.dumps({"events": events, "bytes": written, "path": a.out}))
        else:
            print(s.t("exported", events=events, path=a.out))
    return 0


def _export_bundle(s: Session) -> int:
    """``aval audit export --bundle DIR``: a folder to verify offline (``--offline DIR``).

    The filters choose its events (each then carries its inclusion proof); without any, it
    holds the whole tenant's trail.
    """
    try:
        manifest = write_bundle(s.client, filters_of(s.args), Path(s.args.bundle))
    except BundleScopeError as error:
        print(f"{s.t('error')}: {s.t('bundle_one_tenant', tenants=str(error))}", file=sys.stderr)
        return 2
    if s.args.json:
        print(json.dumps(manifest, sort_keys=True))
        return 0
    print(
        s.t(
            "bundle_written",
            events=manifest["events"],
            checkpoints=manifest["checkpoints"],
            path=s.args.bundle,
        )
    )
    if manifest["unsigned_events"]:
        print(s.t("bundle_unsigned", count=manifest["unsigned_events"]), file=sys.stderr)
    return 0
