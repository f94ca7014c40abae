"""How supervisors' pages show the gateway's values: moments in Paris time, citizen data laid
out as readable text, the AI's advice as a flag, a queue row."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from aval.clients.cli.queue_table import has_ai, paris, plain, suggestion_short
from aval.console.sessions import Session
from aval.v1 import common_pb2, review_pb2

# A pending decision due within this time is marked as near its deadline (as the gateway's
# QueueCounts count it).
NEAR_DEADLINE = timedelta(hours=24)
_MONTHS = {
    "fr": (
        "janv.", "févr.", "mars", "avr.", "mai", "juin",
        "juil.", "août", "sept.", "oct.", "nov.", "déc.",
    ),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}  # fmt: skip


def moment(timestamp: timestamp_pb2.Timestamp, language: str) -> str:
    """A timestamp in Paris time to the minute: "6 déc. 2026 à 14:05", "6 Dec 2026, 14:05";
    empty when unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return ""
    at = paris(timestamp.ToDatetime(tzinfo=UTC))
    month = _MONTHS["en" if language == "en" else "fr"][at.month - 1]
    if language == "en":
        return f"{at.day} {month} {at.year}, {at:%H:%M}"
    return f"{at.day} {month} {at.year} à {at:%H:%M}"


def near_deadline(decision: common_pb2.Decision, now: datetime) -> bool:
    if not decision.HasField("deadline"):
        return False
    return decision.deadline.ToDatetime(tzinfo=UTC) - now < NEAR_DEADLINE


def readable(value: Any, indent: str = "") -> str:
    """A value of citizen data as lines of text: nested objects as "key: value" lines, lists
    as "– item" lines, indented by depth; never markup (the template escapes it)."""
    value = plain(value)
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{indent}{key}:\n{readable(item, indent + '  ')}")
            else:
                lines.append(f"{indent}{key}: {readable(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(f"{indent}– {readable(item, indent + '  ').lstrip()}" for item in value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return str(value)


def struct_dict(struct: Any) -> dict[str, Any]:
    return dict(plain(json_format.MessageToDict(struct)))


@dataclass(frozen=True)
class Field:
    """One labelled value of a case's input."""

    key: str
    label: str
    help: str
    text: str


def input_fields(
    values: Mapping[str, Any], described: Sequence[review_pb2.InputField]
) -> list[Field]:
    """The citizen's input in the policy's order with its labels, then any key the policy does
    not describe, by its raw name."""
    fields = [
        Field(f.name, f.label or f.name, f.help, readable(values[f.name]))
        for f in described
        if f.name in values
    ]
    named = {f.name for f in described}
    fields += [Field(k, k, "", readable(values[k])) for k in sorted(values) if k not in named]
    return fields


@dataclass(frozen=True)
class QueueRow:
    """One pending decision as the queue shows it."""

    id: str
    decision_type: str
    subject_ref: str
    suggestion: str
    confidence: str
    with_ai: bool
    # A suggestion exists but the decision type's review mode withholds it from the caller.
    withheld: bool
    advice_detail: str
    deadline: str
    near: bool
    claimed_by: str
    claimed_by_me: bool


def queue_row(d: common_pb2.Decision, session: Session, language: str, now: datetime) -> QueueRow:
    with_ai = has_ai(d)
    confidence = ""
    if with_ai and d.suggestion.HasField("confidence"):
        confidence = f"{round(d.suggestion.confidence * 100)}\u202f%"
    live_claim = d.HasField("claim") and d.claim.expires_at.ToDatetime(tzinfo=UTC) > now
    return QueueRow(
        id=d.id,
        decision_type=d.decision_type,
        subject_ref=d.subject_ref,
        suggestion=suggestion_short(d, 48),
        confidence=confidence,
        with_ai=with_ai,
        withheld=suggestion_withheld(d),
        advice_detail=d.advice_detail,
        deadline=moment(d.deadline, language),
        near=near_deadline(d, now),
        claimed_by=d.claim.claimed_by if live_claim else "",
        claimed_by_me=live_claim and d.claim.claimed_by == session.principal_id,
    )


def suggestion_withheld(d: common_pb2.Decision) -> bool:
    """Whether the gateway withholds the AI's suggestion from this caller for now (decide-first:
    until they record their own view)."""
    return d.suggestion_withheld


def output_text(output: Any) -> str:
    """An output (suggested, amended, released) on a few readable lines."""
    return readable(struct_dict(output))


def json_text(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False, indent=2, sort_keys=True)
