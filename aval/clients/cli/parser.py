"""The syntax of the ``aval`` command line: its commands, options and usage errors."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from aval.clients.cli import admin_parser, queue_table
from aval.clients.cli import export as cli_export
from aval.clients.cli import journal as cli_journal
from aval.clients.cli import proofs as cli_proofs
from aval.clients.cli import stats as cli_stats
from aval.clients.cli import verify as cli_verify
from aval.clients.cli.checkpoints import add_commands as add_checkpoint_commands
from aval.clients.cli.messages import LANGUAGES, Messages, language_of

DEFAULT_ADDRESS = "127.0.0.1:50051"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, in the person's language."""

    messages = Messages("fr")

    def error(self, message: str) -> NoReturn:
        """Exits with status 2 and one line: the mistake, then where to read the usage."""
        t = self.messages
        hint = t("usage_hint", prog=self.prog)
        self.exit(2, f"{t('error')}: {' '.join(message.split())} ({hint})\n")


_Subcommands = argparse._SubParsersAction


def language_in(argv: Sequence[str]) -> str | None:
    """Finds the language asked for, before parsing, so that help and usage errors speak it.

    Args:
        argv: The arguments, without the program name.

    Returns:
        The value of ``--lang``, else of ``AVAL_LANG``, else ``None``.
    """
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
    return os.environ.get("AVAL_LANG")


def _json_object(t: Messages) -> Callable[[str], dict[str, Any]]:
    def parse(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(
                t("json_invalid", error=err.msg, line=err.lineno, column=err.colno)
            ) from err
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(t("json_not_object"))
        return value

    return parse


def _at_least_zero(kind: Callable[[str], float], t: Messages) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(t("not_positive", value=text))
        return value

    parse.__name__ = kind.__name__
    return parse


def _global_options(parser: argparse.ArgumentParser, t: Messages, *, defaults: bool) -> None:
    # The same options on the top parser (with their defaults) and on every command (without
    # defaults, so that `aval decision show X --json` works and the top level's values stand).
    def default(value: object) -> Any:
        return value if defaults else argparse.SUPPRESS

    env = os.environ
    parser.add_argument(
        "--address",
        default=default(env.get("AVAL_ADDRESS") or DEFAULT_ADDRESS),
        metavar="HOST:PORT",
        help=t("help.address", default=DEFAULT_ADDRESS),
    )
    parser.add_argument("--token", default=default(env.get("AVAL_TOKEN")), help=t("help.token"))
    _tls_options(parser, t, default)
    parser.add_argument("--json", action="store_true", default=default(False), help=t("help.json"))
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=default(language_of(env.get("AVAL_LANG"))),
        help=t("help.lang"),
    )
    if defaults:  # `admin models add` has a --purpose of its own: reads add theirs below
        cli_journal.add_purpose(parser, t, env.get("AVAL_PURPOSE"))


def _tls_options(
    parser: argparse.ArgumentParser, t: Messages, default: Callable[[object], Any]
) -> None:
    env = os.environ
    parser.add_argument(
        "--tls",
        choices=("auto", "on", "off"),
        default=default(_tls_mode(env.get("AVAL_TLS"))),
        help=t("help.tls"),
    )
    parser.add_argument(
        "--ca-file", default=default(env.get("AVAL_CA_FILE")), metavar="PEM", help=t("help.ca_file")
    )
    parser.add_argument(
        "--cert",
        default=default(env.get("AVAL_CLIENT_CERT_FILE")),
        metavar="PEM",
        help=t("help.cert"),
    )
    parser.add_argument(
        "--key",
        default=default(env.get("AVAL_CLIENT_KEY_FILE")),
        metavar="PEM",
        help=t("help.key"),
    )
    parser.add_argument(
        "--server-name",
        default=default(env.get("AVAL_TLS_SERVER_NAME")),
        metavar="NAME",
        help=t("help.server_name"),
    )


def _tls_mode(value: str | None) -> str:
    """AVAL_TLS as `--tls` takes it: on, off, or auto (unset or anything else)."""
    word = (value or "").strip().lower()
    if word in ("1", "true", "yes", "on"):
        return "on"
    if word in ("0", "false", "no", "off"):
        return "off"
    return "auto"


def _paging(parser: argparse.ArgumentParser, t: Messages) -> None:
    parser.add_argument(
        "--page-size",
        type=_at_least_zero(int, t),
        default=0,
        metavar="N",
        help=t("help.page_size"),
    )
    parser.add_argument("--page-token", default="", metavar="T", help=t("help.page_token"))


def build_parser(t: Messages) -> argparse.ArgumentParser:
    """Builds the parser of the whole command line.

    Args:
        t: The texts of help and errors.

    Returns:
        The parser; ``command`` in its result names the command, e.g. ``"queue list"``.
    """
    common = _Parser(add_help=False)
    _global_options(common, t, defaults=False)
    top = _Parser(prog="aval", description=t("help.description"))
    top.messages = t
    _global_options(top, t, defaults=True)
    commands = top.add_subparsers(dest="name", required=True, metavar="COMMAND")
    json_object = _json_object(t)

    def add(group: _Subcommands[_Parser], name: str, key: str) -> _Parser:
        parser = group.add_parser(name, help=t(key), description=t(key), parents=[common])
        parser.messages = t
        return parser

    serve = add(commands, "serve", "help.serve")
    serve.add_argument("--listen", metavar="HOST:PORT", help=t("help.listen"))
    serve.add_argument("--demo", action="store_true", help=t("help.demo"))
    serve.add_argument("--workers", type=int, metavar="N", help=t("help.workers"))
    serve.set_defaults(command="serve")
    add(commands, "migrate", "help.migrate").set_defaults(command="migrate")
    witness = add(commands, "witness", "help.witness").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    witness_serve = add(witness, "serve", "help.witness_serve")
    witness_serve.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help=t("help.witness_listen")
    )
    witness_serve.add_argument("--name", required=True, metavar="NAME", help=t("help.witness_name"))
    witness_serve.add_argument("--logs", required=True, metavar="FILE", help=t("help.witness_logs"))
    witness_serve.add_argument(
        "--state", required=True, metavar="PATH", help=t("help.witness_state")
    )
    witness_serve.set_defaults(command="witness serve")

    propose = add(commands, "propose", "help.propose")
    propose.add_argument("--type", required=True, help=t("help.type"))
    propose.add_argument("--subject", required=True, metavar="REF", help=t("help.subject"))
    propose.add_argument(
        "--input", required=True, type=json_object, metavar="JSON", help=t("help.input")
    )
    propose.add_argument(
        "--suggestion", type=json_object, metavar="JSON", help=t("help.suggestion")
    )
    propose.add_argument("--confidence", type=float, metavar="X", help=t("help.confidence"))
    propose.add_argument("--model", metavar="NAME@VERSION", help=t("help.model"))
    propose.add_argument("--explanation", default="", metavar="TEXT", help=t("help.explanation"))
    propose.add_argument("--idempotency-key", metavar="KEY", help=t("help.idempotency_key"))
    propose.set_defaults(command="propose")

    queue = add(commands, "queue", "help.queue").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    queue_list = add(queue, "list", "help.queue_list")
    queue_list.add_argument("--type", default="", help=t("help.type"))
    queue_list.add_argument("--actionable", action="store_true", help=t("help.actionable"))
    queue_table.add_options(queue_list, t)
    _paging(queue_list, t)
    queue_list.set_defaults(command="queue list")

    claim = add(commands, "claim", "help.claim")
    claim.add_argument(
        "--lease", type=_at_least_zero(float, t), metavar="SECONDS", help=t("help.lease")
    )
    claim.set_defaults(command="claim")

    release = add(commands, "release", "help.release")
    release.set_defaults(command="release")

    decide = add(commands, "decide", "help.decide")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument(
        "--approve", dest="verdict", action="store_const", const="approve", help=t("help.approve")
    )
    verdict.add_argument(
        "--amend", dest="amended_output", type=json_object, metavar="JSON", help=t("help.amend")
    )
    verdict.add_argument(
        "--reject", dest="verdict", action="store_const", const="reject", help=t("help.reject")
    )
    decide.add_argument("--justification", default="", metavar="TEXT", help=t("help.justification"))
    for bound in (claim, decide):
        bound.add_argument(
            "--seen-version",
            type=_at_least_zero(int, t),
            default=0,
            metavar="N",
            help=t("help.seen_version"),
        )
    decide.set_defaults(command="decide")

    decision = add(commands, "decision", "help.decision").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    show = add(decision, "show", "help.show")
    show.set_defaults(command="decision show")
    watch = add(decision, "watch", "help.watch")
    watch.set_defaults(command="decision watch")

    audit = add(commands, "audit", "help.audit").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    events = add(audit, "events", "help.events")
    events.add_argument("--decision", default="", metavar="ID", help=t("help.decision_filter"))
    events.add_argument("--kind", default="", metavar="K", help=t("help.kind"))
    cli_export.add_filters(events, t)
    _paging(events, t)
    events.set_defaults(command="audit events")
    cli_export.add_commands(audit, add, t)
    verify = add(audit, "verify", "help.verify")
    cli_verify.add_options(verify, t)
    verify.set_defaults(command="audit verify")
    explain = add(audit, "explain", "help.explain")
    explain.add_argument(
        "--audience", choices=("inspector", "citizen"), default="inspector", help=t("help.audience")
    )
    explain.set_defaults(command="audit explain")
    cli_stats.add_commands(audit, explain, add, t)
    add_checkpoint_commands(commands, audit, add, t)
    cli_proofs.add_commands(audit, add, t)
    admin_parser.add_commands(commands, add, t)
    cli_journal.add_commands(commands, add, t)

    for parser in (claim, release, decide, show, watch, explain):
        parser.add_argument("id", help=t("help.id"))
    for parser in (queue_list, show, watch, events, explain):
        cli_journal.add_purpose(parser, t)
    for parser in (
        propose,
        queue_list,
        claim,
        release,
        decide,
        show,
        watch,
        events,
        verify,
        explain,
    ):
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    return top
