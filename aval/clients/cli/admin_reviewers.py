"""The ``aval admin reviewers …`` commands (the reviewer registry, R11) and ``aval admin
reload`` (policies and grants read again without a restart)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from typing import Any

from aval.clients.cli.messages import Messages
from aval.clients.cli.output import format_time
from aval.clients.cli.session import AddCommand, Session
from aval.clients.sdk.reviewer_calls import ALL_DECISION_TYPES
from aval.v1 import admin_pb2


def _day_of(t: Messages) -> Callable[[str], str]:
    """An argparse type: a day written YYYY-MM-DD, or one line in the person's language."""

    def parse(text: str) -> str:
        try:
            return date.fromisoformat(text.strip()).isoformat()
        except ValueError:
            raise argparse.ArgumentTypeError(t("admin.bad_day", value=text)) from None

    return parse


def add_commands(admin: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``reviewers grant|revoke|list`` and ``reload`` to the ``admin`` subcommands."""
    reviewers = add(admin, "reviewers", "help.admin_reviewers").add_subparsers(
        dest="sub_action", required=True, metavar="ACTION"
    )
    grant = add(reviewers, "grant", "help.admin_reviewers_grant")
    grant.add_argument("reviewer", metavar="REVIEWER", help=t("help.admin_reviewer"))
    which = grant.add_mutually_exclusive_group(required=True)
    which.add_argument("--type", dest="decision_type", metavar="TYPE", help=t("help.admin_qtype"))
    which.add_argument(
        "--all-types",
        dest="decision_type",
        action="store_const",
        const=ALL_DECISION_TYPES,
        help=t("help.admin_all_types"),
    )
    day = _day_of(t)
    for option, key in (
        ("--trained-on", "help.admin_trained_on"),
        ("--from", "help.admin_valid_from"),
        ("--until", "help.admin_valid_until"),
    ):
        grant.add_argument(option, required=True, type=day, metavar="AAAA-MM-JJ", help=t(key))
    grant.add_argument(
        "--delegated-by", required=True, metavar="TEXT", help=t("help.admin_delegated_by")
    )
    grant.set_defaults(command="admin reviewers grant")
    revoke = add(reviewers, "revoke", "help.admin_reviewers_revoke")
    revoke.add_argument("id", metavar="ID", help=t("help.admin_qualification_id"))
    revoke.set_defaults(command="admin reviewers revoke")
    listing = add(reviewers, "list", "help.admin_reviewers_list")
    listing.add_argument("--reviewer", default="", metavar="ID", help=t("help.admin_reviewer"))
    listing.add_argument("--history", action="store_true", help=t("help.admin_history"))
    listing.set_defaults(command="admin reviewers list")
    reload = add(admin, "reload", "help.admin_reload")
    reload.set_defaults(command="admin reload")
    for parser in (grant, revoke, reload):
        parser.add_argument("--reason", required=True, metavar="TEXT", help=t("help.admin_reason"))
    for parser in (grant, revoke, listing, reload):
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))


def _french_day(text: str) -> str:
    return f"{date.fromisoformat(text):%d/%m/%Y}" if text else ""


def qualification_line(t: Messages, q: admin_pb2.ReviewerQualification) -> str:
    """One qualification in a sentence, with its state."""
    if q.HasField("revoked_at"):
        state = t("admin.q_revoked", at=format_time(q.revoked_at), by=q.revoked_by)
    elif q.HasField("superseded_at"):
        state = t("admin.q_superseded", at=format_time(q.superseded_at), by=q.superseded_by)
    else:
        state = t("admin.q_in_force")
    types = t("admin.q_all_types") if q.decision_type == ALL_DECISION_TYPES else q.decision_type
    return t(
        "admin.q_line",
        id=q.id,
        reviewer=q.reviewer_id,
        types=types,
        start=_french_day(q.valid_from),
        end=_french_day(q.valid_until),
        trained=_french_day(q.trained_on),
        delegated_by=q.delegated_by,
        state=state,
    )


def _grant(s: Session) -> int:
    a = s.args
    response = s.client.set_reviewer_qualification(
        a.reviewer,
        decision_type=a.decision_type,
        trained_on=a.trained_on,
        delegated_by=a.delegated_by,
        valid_from=getattr(a, "from"),
        valid_until=a.until,
        reason=a.reason,
        tenant=a.tenant,
    )
    if a.json:
        s.show.json(response)
        return 0
    key = "admin.q_renewed" if response.HasField("renewed") else "admin.q_granted"
    print(s.t(key, old=response.renewed.id))
    print(qualification_line(s.t, response.qualification))
    return 0


def _revoke(s: Session) -> int:
    a = s.args
    revoked = s.client.revoke_reviewer_qualification(a.id, reason=a.reason, tenant=a.tenant)
    if a.json:
        s.show.json(revoked)
        return 0
    print(qualification_line(s.t, revoked))
    return 0


def _list(s: Session) -> int:
    a = s.args
    response = s.client.list_reviewer_qualifications(
        reviewer_id=a.reviewer, history=a.history, tenant=a.tenant
    )
    if a.json:
        s.show.json(response)
        return 0
    if not response.qualifications:
        print(s.t("admin.q_empty"))
    for q in response.qualifications:
        print(qualification_line(s.t, q))
    return 0


def _reload(s: Session) -> int:
    a = s.args
    response = s.client.reload_configuration(reason=a.reason, tenant=a.tenant)
    if a.json:
        s.show.json(response)
        return 0
    print(s.t("admin.reloaded" if response.changed else "admin.reload_unchanged"))
    for part in response.parts:
        revisions = ", ".join(f"{k} = {v}" for k, v in sorted(part.revisions.items()))
        key = "admin.reload_part_changed" if part.changed else "admin.reload_part_same"
        print(s.t(key, part=part.name, revisions=revisions))
    return 0


COMMANDS: dict[str, Callable[[Session], int]] = {
    "admin reviewers grant": _grant,
    "admin reviewers revoke": _revoke,
    "admin reviewers list": _list,
    "admin reload": _reload,
}
