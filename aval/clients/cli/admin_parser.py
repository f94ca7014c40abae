"""The arguments of the ``aval admin …`` commands, read and checked as the gateway would."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aval.clients.cli import admin_reviewers
from aval.clients.cli.messages import Messages
from aval.clients.cli.session import AddCommand

_DURATION = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(ms|s|m)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}


def _typed(t: Messages, key: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type whose mistakes are one line in the person's language."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(t(key, value=text)) from None

    return parse


def _seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(text)
    value = float(match[1].replace(",", ".")) * _UNIT_SECONDS[match[2] or "s"]
    if value <= 0:
        raise ValueError(text)
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _attempts(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 5:
        raise ValueError(text)
    return value


def _metric(text: str) -> tuple[str, float]:
    name, sep, number = text.partition("=")
    value = float(number.replace(",", ".")) if sep and name.strip() else math.nan
    if not math.isfinite(value):
        raise ValueError(text)
    return name.strip(), value


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.astimezone() if moment.tzinfo is None else moment  # naive: local time


def _add_register(systems: Any, add: AddCommand, t: Messages) -> argparse.ArgumentParser:
    register = add(systems, "register", "help.admin_register")
    register.add_argument("name", metavar="NAME", help=t("help.admin_system"))
    register.add_argument(
        "--kind", required=True, choices=("advisor", "openai"), help=t("help.admin_kind")
    )
    register.add_argument("--endpoint", required=True, help=t("help.admin_endpoint"))
    register.add_argument("--model", help=t("help.admin_model"))
    register.add_argument("--api-key-env", metavar="VAR", help=t("help.admin_api_key_env"))
    register.add_argument(
        "--timeout", type=_typed(t, "admin.bad_duration", _seconds), help=t("help.admin_timeout")
    )
    register.add_argument(
        "--max-attempts",
        type=_typed(t, "admin.bad_attempts", _attempts),
        metavar="N",
        help=t("help.admin_max_attempts"),
    )
    count = _typed(t, "not_positive", _count)
    for option in ("energy-mwh-per-call", "energy-mwh-per-1k-tokens"):
        register.add_argument(f"--{option}", type=count, metavar="N", help=t("help.admin_energy"))
    for option in ("cost-micro-eur-per-call", "cost-micro-eur-per-1k-tokens"):
        register.add_argument(f"--{option}", type=count, metavar="N", help=t("help.admin_cost"))
    enabled = register.add_mutually_exclusive_group()
    enabled.add_argument(
        "--enable", dest="enabled", action="store_const", const=True, help=t("help.admin_enable")
    )
    enabled.add_argument(
        "--disable",
        dest="enabled",
        action="store_const",
        const=False,
        help=t("help.admin_disable"),
    )
    register.set_defaults(command="admin systems register")
    return register


def _selectors(parser: argparse.ArgumentParser, t: Messages) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant", dest="stop_tenant", metavar="T", help=t("help.admin_all_ai"))
    which.add_argument("--type", dest="stop_type", metavar="TYPE", help=t("help.admin_stop_type"))
    which.add_argument("--ai-system", metavar="NAME", help=t("help.admin_stop_system"))


def add_commands(commands: Any, add: AddCommand, t: Messages) -> None:
    """Adds ``admin`` and its subcommands to the parser.

    Args:
        commands: The top-level subcommands.
        add: The parser's helper that adds one command with its help text.
        t: The texts of help and errors.
    """
    admin = add(commands, "admin", "help.admin").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    systems = add(admin, "systems", "help.admin_systems").add_subparsers(
        dest="sub_action", required=True, metavar="ACTION"
    )
    register = _add_register(systems, add, t)
    listing = add(systems, "list", "help.admin_systems_list")
    listing.set_defaults(command="admin systems list")
    versions = add(admin, "versions", "help.admin_versions").add_subparsers(
        dest="sub_action", required=True, metavar="ACTION"
    )
    version_add = add(versions, "add", "help.admin_versions_add")
    version_add.add_argument("--purpose", required=True, help=t("help.admin_purpose"))
    version_add.add_argument(
        "--limit", action="append", default=[], metavar="TEXT", help=t("help.admin_limit")
    )
    version_add.add_argument(
        "--accuracy-note", default="", metavar="TEXT", help=t("help.admin_accuracy_note")
    )
    version_add.add_argument(
        "--metric",
        action="append",
        default=[],
        type=_typed(t, "admin.bad_metric", _metric),
        metavar="NAME=VALUE",
        help=t("help.admin_metric"),
    )
    version_add.set_defaults(command="admin versions add")
    pin = add(admin, "pin", "help.admin_pin")
    pin.set_defaults(command="admin pin")
    pins = add(admin, "pins", "help.admin_pins")
    pins.add_argument("--pending", action="store_true", help=t("help.admin_pending"))
    pins.set_defaults(command="admin pins")
    verdicts = pins.add_subparsers(dest="sub_action", required=False, metavar="ACTION")
    approve = add(verdicts, "approve", "help.admin_approve")
    approve.set_defaults(command="admin pins approve")
    refuse = add(verdicts, "refuse", "help.admin_refuse")
    refuse.set_defaults(command="admin pins refuse")
    for parser in (approve, refuse):
        parser.add_argument("id", metavar="ID", help=t("help.admin_pin_id"))
    shadow = add(admin, "shadow", "help.admin_shadow")
    shadow.add_argument("system", metavar="SYSTEM", help=t("help.admin_system"))
    which = shadow.add_mutually_exclusive_group(required=True)
    which.add_argument("version", nargs="?", metavar="VERSION", help=t("help.admin_version"))
    which.add_argument("--off", action="store_true", help=t("help.admin_off"))
    shadow.set_defaults(command="admin shadow")
    stop = add(admin, "stop", "help.admin_stop")
    stop.set_defaults(command="admin stop")
    resume = add(admin, "resume", "help.admin_resume")
    resume.set_defaults(command="admin resume")
    for parser in (stop, resume):
        _selectors(parser, t)
    stops = add(admin, "stops", "help.admin_stops")
    stops.set_defaults(command="admin stops")
    evaluate = add(admin, "evaluate", "help.admin_evaluate")
    evaluate.add_argument("system", metavar="SYSTEM", help=t("help.admin_system"))
    evaluate.add_argument("--type", default="", metavar="TYPE", help=t("help.admin_eval_type"))
    usage = add(admin, "usage", "help.admin_usage")
    until = _typed(t, "bad_moment", _moment)
    usage.add_argument("--until", type=until, metavar="DATE", help=t("help.until_events"))
    usage.set_defaults(command="admin usage")
    evaluate.set_defaults(command="admin evaluate")
    for parser in (evaluate, usage):
        since = _typed(t, "bad_moment", _moment)
        parser.add_argument("--since", type=since, metavar="DATE", help=t("help.since_events"))
    for parser in (version_add, pin):
        parser.add_argument("system", metavar="SYSTEM", help=t("help.admin_system"))
        parser.add_argument("version", metavar="VERSION", help=t("help.admin_version"))
    for parser in (register, pin, approve, refuse, shadow, stop, resume):
        parser.add_argument("--reason", required=True, metavar="TEXT", help=t("help.admin_reason"))
    for parser in (register, listing, version_add, pin, pins, approve, refuse, shadow):
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    webhooks = add(admin, "webhooks", "help.admin_webhooks").add_subparsers(
        dest="sub_action", required=True, metavar="ACTION"
    )
    deliveries = add(webhooks, "list", "help.admin_webhooks_list")
    deliveries.add_argument(
        "--status",
        default="",
        choices=["pending", "delivered", "dead"],
        help=t("help.admin_webhook_status"),
    )
    deliveries.add_argument(
        "--limit", type=int, default=0, metavar="N", help=t("help.admin_webhook_limit")
    )
    deliveries.set_defaults(command="admin webhooks list")
    for parser in (stops, evaluate, usage, deliveries):
        parser.add_argument("--tenant", default="", metavar="T", help=t("help.tenant"))
    admin_reviewers.add_commands(admin, add, t)
