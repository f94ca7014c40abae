"""The review queue as a table for supervisors: the AI's suggestion in short, its confidence or
a "sans IA" flag, deadlines in Paris time, and the decisions due soon marked and put first."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf import json_format, timestamp_pb2

from aval.clients.cli.messages import Messages
from aval.clients.cli.people import shown
from aval.v1 import common_pb2

_NOTHING = "—"
# How many characters of a suggestion's output the table shows.
SUGGESTION_WIDTH = 32
# Advice statuses under which the decision carries no valid suggestion: a human decides alone.
_WITHOUT_AI = frozenset(
    {
        common_pb2.ADVICE_STATUS_UNAVAILABLE,
        common_pb2.ADVICE_STATUS_INVALID_OUTPUT,
        common_pb2.ADVICE_STATUS_STOPPED,
        common_pb2.ADVICE_STATUS_NONE,
    }
)
# Hours before its deadline from which a decision counts as due soon, by default.
NEAR_HOURS = 24.0


def paris(moment: datetime) -> datetime:
    """A moment in the time of French agents (UTC on a system without time zone data)."""
    try:
        return moment.astimezone(ZoneInfo("Europe/Paris"))
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC)


def paris_time(timestamp: timestamp_pb2.Timestamp) -> str:
    """A timestamp in Paris time to the minute, e.g. ``"06/12/2026 18:05"``; a dash when unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return _NOTHING
    return f"{paris(timestamp.ToDatetime(tzinfo=UTC)):%d/%m/%Y %H:%M}"


def has_ai(decision: common_pb2.Decision) -> bool:
    """Whether the decision carries a valid suggestion of an AI system."""
    return decision.HasField("suggestion") and decision.advice_status not in _WITHOUT_AI


def plain(value: Any) -> Any:
    """A Struct's value as a person typed it (a Struct holds every number as a double: 250.0
    is shown as 250)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _suggestion_cell(decision: common_pb2.Decision, t: Messages) -> str:
    """The suggestion in short, a mark while decide-first withholds it, else "sans IA"."""
    if decision.suggestion_withheld:
        return t("suggestion_withheld")
    return suggestion_short(decision) if has_ai(decision) else t("no_ai")


def suggestion_short(decision: common_pb2.Decision, width: int = SUGGESTION_WIDTH) -> str:
    """The suggested output on one line, cut to `width` characters; empty without AI."""
    if not has_ai(decision):
        return ""
    output = plain(json_format.MessageToDict(decision.suggestion.output))
    text = json.dumps(output, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def confidence(decision: common_pb2.Decision, t: Messages) -> str:
    """The suggestion's confidence as a percentage (``"87 %"``), a dash when none is given."""
    if not has_ai(decision) or not decision.suggestion.HasField("confidence"):
        return _NOTHING
    return t("percent", value=round(decision.suggestion.confidence * 100))


def is_near(decision: common_pb2.Decision, now: datetime, near: timedelta) -> bool:
    """Whether the decision's deadline is set and comes within `near` of `now`."""
    if not decision.deadline.seconds and not decision.deadline.nanos:
        return False
    return decision.deadline.ToDatetime(tzinfo=UTC) - now <= near


def rows(
    decisions: Sequence[common_pb2.Decision],
    t: Messages,
    names: Mapping[str, str],
    *,
    now: datetime,
    near: timedelta,
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the queue table; decisions due within `near` come first, marked.

    Within each group the gateway's order (earliest deadline first) is kept.
    """
    header = [
        t(f"col.{key}")
        for key in (
            "urgent",
            "id",
            "type",
            "subject",
            "suggestion",
            "confidence",
            "approvals",
            "deadline",
            "claim",
        )
    ]
    ordered = sorted(decisions, key=lambda d: not is_near(d, now, near))
    table = [
        [
            t("near_mark") if is_near(d, now, near) else "",
            d.id,
            d.decision_type,
            d.subject_ref,
            _suggestion_cell(d, t),
            confidence(d, t),
            f"{d.approvals}/{d.required_approvals}",
            paris_time(d.deadline),
            shown(names, d.claim.claimed_by) or _NOTHING,
        ]
        for d in ordered
    ]
    return header, table


def add_options(parser: argparse.ArgumentParser, t: Messages) -> None:
    """Adds ``queue list``'s filters and its due-soon threshold.

    Args:
        parser: The parser of ``queue list``.
        t: The texts of the person's language.
    """

    def moment(value: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(t("bad_moment", value=value)) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo("Europe/Paris"))

    def hours(value: str) -> float:
        try:
            parsed = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(t("not_positive", value=value)) from None
        if not parsed >= 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(t("not_positive", value=value))
        return parsed

    parser.add_argument("--mine", action="store_true", help=t("help.mine"))
    parser.add_argument("--due-before", type=moment, metavar="DATE", help=t("help.due_before"))
    parser.add_argument(
        "--near", type=hours, default=NEAR_HOURS, metavar="HOURS", help=t("help.near")
    )
