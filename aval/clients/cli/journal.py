"""``aval journal list``: the access journal, for a tenant's privacy officer (R13)."""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf import json_format

from aval.clients.cli.export import moment_parser
from aval.clients.cli.messages import Messages
from aval.clients.cli.session import AddCommand, Session


def add_purpose(
    parser: argparse.ArgumentParser, t: Messages, value: Any = argparse.SUPPRESS
) -> None:
    """Adds ``--purpose``: why the reads are made, recorded by the access journal (R13)."""
    parser.add_argument("--purpose", default=value, metavar="TEXT", help=t("help.purpose"))


def _filters(parser: argparse.ArgumentParser, t: Messages) -> None:
    moment = moment_parser(t)
    parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    parser.add_argument("--reader", default="", metavar="ID", help=t("help.reader"))
    parser.add_argument("--decision", default="", metavar="ID", help=t("help.decision_journal"))
    parser.add_argument(
        "--action", dest="read", default="", metavar="A", help=t("help.action_filter")
    )
    parser.add_argument("--since", type=moment, metavar="DATE", help=t("help.since_journal"))
    parser.add_argument("--until", type=moment, metavar="DATE", help=t("help.until_journal"))
    add_purpose(parser, t)


def add_commands(commands: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``journal list`` and ``journal export``, with their filters.

    Args:
        commands: The top-level subcommands.
        add: The helper that adds one command.
        t: The texts of help and errors.
    """
    journal = add(commands, "journal", "help.journal").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = add(journal, "list", "help.journal_list")
    _filters(listing, t)
    listing.add_argument("--page-size", type=int, default=0, metavar="N", help=t("help.page_size"))
    listing.add_argument("--page-token", default="", metavar="T", help=t("help.page_token"))
    listing.set_defaults(command="journal list")
    export = add(journal, "export", "help.journal_export")
    _filters(export, t)
    export.set_defaults(command="journal export")


def _asked(a: argparse.Namespace) -> dict[str, Any]:
    return {
        "tenant": a.tenant,
        "reader": a.reader,
        "decision_id": a.decision,
        "action": a.read,
        "since": a.since,
        "until": a.until,
    }


def journal_list(s: Session) -> int:
    a = s.args
    response = s.client.query_access_journal(
        page_size=max(a.page_size, 0), page_token=a.page_token, **_asked(a)
    )
    s.show.journal(response)
    return 0


def journal_export(s: Session) -> int:
    """Writes every record the filters select as JSON Lines on standard output."""
    for record in s.client.export_access_journal(**_asked(s.args)):
        print(json_format.MessageToJson(record, indent=None), flush=False)
    return 0
