"""The ``aval`` command line: run the gateway, propose, review, and inspect the audit trail."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from aval.clients.cli import admin as cli_admin
from aval.clients.cli import export as cli_export
from aval.clients.cli import journal as cli_journal
from aval.clients.cli import people as cli_people
from aval.clients.cli import proofs as cli_proofs
from aval.clients.cli import stats as cli_stats
from aval.clients.cli import terminal
from aval.clients.cli import verify as cli_verify
from aval.clients.cli.checkpoints import audit_checkpoint, audit_checkpoints, keys_generate
from aval.clients.cli.messages import Messages, language_of
from aval.clients.cli.output import Printer
from aval.clients.cli.parser import build_parser, language_in
from aval.clients.sdk.client import Client
from aval.clients.sdk.errors import (
    AbortedError,
    AlreadyExistsError,
    AvalError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from aval.clients.sdk.transport import ChannelSettingsError, Transport
from aval.verifier.witness_policy import parse_policy

# The catalogue entry that explains a refusal: first by its reason, then by its type.
_REASON_KEYS: dict[str, str] = {"IDEMPOTENCY_KEY_REUSED": "idempotency_reused"}
_REASON_KEYS["NO_SIGNING_KEY"] = "no_signing_key"
_REASON_KEYS["TRAIL_BROKEN"] = "trail_broken"
_REASON_KEYS.update(cli_admin.REASON_KEYS)
_REASON_KEYS.update(
    dict.fromkeys(("NO_CHECKPOINT", "NOT_YET_CHECKPOINTED", "TRAIL_GAP"), "proof_refused")
)
_ERROR_KEYS: dict[type[AvalError], str] = {
    UnauthenticatedError: "unauthenticated",
    PermissionDeniedError: "permission_denied",
    NotFoundError: "not_found",
    AlreadyExistsError: "already_exists",
    FailedPreconditionError: "failed_precondition",
    UnavailableError: "unavailable",
    DeadlineExceededError: "deadline",
    ResourceExhaustedError: "resource_exhausted",
    AbortedError: "aborted",
}


@dataclass(frozen=True)
class _Session:
    """What a command that talks to the gateway gets: the client, its arguments, the output."""

    client: Client
    args: argparse.Namespace
    show: Printer
    t: Messages


def _server_command(args: argparse.Namespace, t: Messages) -> int:
    # Imported only here: a machine with just the SDK and the CLI has no server to import.
    try:
        from aval.service.runtime.commands import (  # type: ignore[import-not-found, unused-ignore]
            migrate,
            serve,
        )
    except ImportError as err:
        return _fail(t, t("server_missing", error=err))
    status: int = (
        serve(listen=args.listen, demo=args.demo, workers=args.workers)
        if args.command == "serve"
        else migrate()
    )
    return status


def _propose(s: _Session) -> int:
    a = s.args
    response = s.client.propose(
        decision_type=a.type,
        subject_ref=a.subject,
        input=a.input,
        idempotency_key=a.idempotency_key,
        suggestion=a.suggestion,
        confidence=a.confidence,
        explanation=a.explanation,
        model=a.model,
        tenant=a.tenant,
    )
    s.show.proposal(response)
    return 0


def _name_people(s: _Session, ids: list[str], tenant: str) -> None:
    """Lets the text output show the people of `ids` by name (cli/people.py)."""
    if s.show.shows_names:
        s.show.names = cli_people.names_of(s.client, ids, tenant)


def _queue_list(s: _Session) -> int:
    a = s.args
    response = s.client.list_queue(
        tenant=a.tenant,
        decision_type=a.type,
        actionable_only=a.actionable,
        page_size=a.page_size,
        page_token=a.page_token,
        claimed_by_me=a.mine,
        deadline_before=a.due_before,
    )
    _name_people(s, cli_people.queue_ids(response), a.tenant)
    s.show.near = timedelta(hours=a.near)
    s.show.queue(response)
    return 0


def _claim(s: _Session) -> int:
    a = s.args
    decision = s.client.claim(
        a.id, tenant=a.tenant, lease_seconds=a.lease, seen_version=a.seen_version
    )
    _name_people(s, cli_people.decision_ids(decision), a.tenant)
    s.show.decision(decision)
    return 0


def _release(s: _Session) -> int:
    a = s.args
    decision = s.client.release(a.id, tenant=a.tenant)
    _name_people(s, cli_people.decision_ids(decision), a.tenant)
    s.show.note("released", id=decision.id)
    s.show.decision(decision)
    return 0


def _decide(s: _Session) -> int:
    a = s.args
    decision = s.client.decide(
        a.id,
        verdict="amend" if a.amended_output is not None else a.verdict,
        justification=a.justification,
        amended_output=a.amended_output,
        tenant=a.tenant,
        language=s.t.language,
        seen_version=a.seen_version,
    )
    _name_people(s, cli_people.decision_ids(decision), a.tenant)
    s.show.decision(decision)
    return 0


def _decision_show(s: _Session) -> int:
    a = s.args
    decision = s.client.get_decision(a.id, tenant=a.tenant, language=s.t.language)
    _name_people(s, cli_people.decision_ids(decision), a.tenant)
    s.show.decision(decision)
    return 0


def _decision_watch(s: _Session) -> int:
    a = s.args
    updates = s.client.watch_decision(a.id, tenant=a.tenant, language=s.t.language)
    for index, decision in enumerate(updates):
        s.show.update(decision, first=index == 0)
    return 0


def _audit_events(s: _Session) -> int:
    a = s.args
    response = s.client.query_events(
        page_size=a.page_size, page_token=a.page_token, **cli_export.filters_of(a)
    )
    if s.show.shows_names:
        s.show.names = cli_people.event_names(s.client, response)
    s.show.events(response)
    return 0


def _audit_verify(s: _Session) -> int:
    response = cli_verify.verify_online(s.client, s.args, s.show, s.t)
    if response.ok:
        return 0
    return _fail(s.t, s.show.first_problem(response))


def _audit_verify_offline(args: argparse.Namespace, t: Messages) -> int:
    show = Printer(t, as_json=args.json)
    try:
        parse_policy(args.witness, args.witness_quorum)
    except ValueError as error:
        return _fail(t, t("witness_policy_invalid", error=error))
    try:
        responses = cli_verify.verify_offline(args, show, t)
    except (OSError, ValueError) as error:
        return _fail(t, t("bundle_unreadable", error=error))
    broken = [r for r in responses if not r.ok]
    return _fail(t, show.first_problem(broken[0])) if broken else 0


def _audit_explain(s: _Session) -> int:
    a = s.args
    if a.html:
        return cli_stats.audit_explain_html(s)
    response = s.client.explain_decision(
        a.id, audience=a.audience, language=s.t.language, tenant=a.tenant
    )
    s.show.explanation(response)
    return 0


def describe(error: AvalError, t: Messages, address: str) -> str:
    """Says on one line why a call failed and, where possible, how to fix it.

    Args:
        error: The refusal.
        t: The texts of the person's language.
        address: The gateway's address, named when it cannot be reached.

    Returns:
        The reason, without the ``erreur:`` prefix.
    """
    if isinstance(error, InvalidArgumentError):
        details = "; ".join(f"{v.field}: {v.text}" for v in error.violations)
        return t("invalid_argument", details=details or error.message)
    key = _REASON_KEYS.get(error.reason) or next(
        (key for kind, key in _ERROR_KEYS.items() if isinstance(error, kind)), "internal"
    )
    return t(key, message=error.localized or error.message, address=address, code=error.code.name)


def transport_of(args: argparse.Namespace) -> Transport:
    """The TLS options of the command line (AVAL_ALLOW_PLAINTEXT from the environment only)."""
    return Transport(
        tls={"on": True, "off": False}.get(args.tls),
        ca_file=args.ca_file,
        client_cert_file=args.cert,
        client_key_file=args.key,
        server_name=args.server_name,
        allow_plaintext=os.environ.get("AVAL_ALLOW_PLAINTEXT", "").lower() in ("1", "true", "yes"),
    )


def _witness_serve(args: argparse.Namespace, t: Messages) -> int:
    """``aval witness serve``: a C2SP tlog witness (docs/witness.md), until stopped."""
    if not args.key:
        return _fail(t, t("witness_key_missing"))
    from aval.witness.server import serve

    return serve(args)


def _fail(t: Messages, reason: str, status: int = 1) -> int:
    print(f"{t('error')}: {' '.join(reason.split())}", file=sys.stderr)
    return status


_SERVER_COMMANDS = ("serve", "migrate", "witness serve")
_LOCAL_COMMANDS: dict[str, Callable[[argparse.Namespace, Messages], int]] = {
    "serve": _server_command,
    "migrate": _server_command,
    "keys generate": keys_generate,
    "witness serve": _witness_serve,
}
_GATEWAY_COMMANDS: dict[str, Callable[[_Session], int]] = {
    "propose": _propose,
    "queue list": _queue_list,
    "claim": _claim,
    "release": _release,
    "decide": _decide,
    "decision show": _decision_show,
    "decision watch": _decision_watch,
    "audit events": _audit_events,
    "audit export": cli_export.audit_export,
    "audit verify": _audit_verify,
    "audit explain": _audit_explain,
    "audit stats": cli_stats.audit_stats,
    "audit checkpoint": audit_checkpoint,
    "audit checkpoints": audit_checkpoints,
    "audit prove": cli_proofs.audit_prove,
    "audit consistency": cli_proofs.audit_consistency,
    **cli_admin.COMMANDS,
    "journal list": cli_journal.journal_list,
    "journal export": cli_journal.journal_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``aval`` command line.

    Everything a command prints, to standard output or error, shows the control and bidi
    characters it holds instead of letting the terminal obey them (`terminal.guarded`).

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status: 0 on success, 1 when a command fails, 2 on a usage mistake.
    """
    with terminal.guarded() as streams:
        return _run(list(sys.argv[1:] if argv is None else argv), streams)


def _run(arguments: list[str], streams: terminal.Streams) -> int:
    t = Messages(language_of(language_in(arguments)))
    try:
        args = build_parser(t).parse_args(arguments)
    except SystemExit as exit_:  # argparse has printed the usage error or the help
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    t = Messages(language_of(args.lang))
    if getattr(args, "json", False):
        streams.json_output()
    try:
        if getattr(args, "offline", None):
            return _audit_verify_offline(args, t)
        if args.command in _SERVER_COMMANDS:
            streams.release()  # the server's own output: its address, then its log
        if args.command in _LOCAL_COMMANDS:
            return _LOCAL_COMMANDS[args.command](args, t)
        if not args.token and not args.cert:
            return _fail(t, t("no_token"))
        purpose = getattr(args, "purpose", None) or None
        with Client(
            args.address, args.token, language=t.language, purpose=purpose, **transport_of(args)
        ) as client:
            session = _Session(client, args, Printer(t, as_json=args.json), t)
            return _GATEWAY_COMMANDS[args.command](session)
    except AvalError as error:
        return _fail(t, describe(error, t, args.address))
    except ChannelSettingsError as error:
        return _fail(t, t(f"tls.{error.reason}", **error.params))
    except KeyboardInterrupt:
        return _fail(t, t("interrupted"), status=130)
    except UnicodeEncodeError:  # an argument the shell passed as bytes no UTF-8 holds
        return _fail(t, t("not_utf8"))
    except BrokenPipeError:
        # The reader went away (`aval … | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
