"""The queue table's formatting: suggestion in short, confidence, « sans IA », Paris time, due soon
first, and `queue list`'s options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import timestamp_pb2

from aval.clients.cli import queue_table
from aval.clients.cli.messages import Messages
from aval.clients.cli.parser import build_parser
from aval.v1 import common_pb2

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
FR, EN = Messages("fr"), Messages("en")


def _decision(
    id_: str, *, due_in: timedelta, output: dict[str, object] | None = None, **advice: object
) -> common_pb2.Decision:
    d = common_pb2.Decision(id=id_, decision_type="t", subject_ref="s", required_approvals=1)
    d.deadline.FromDatetime(NOW + due_in)
    if output is not None:
        d.suggestion.output.update(output)
        if "confidence" in advice:
            d.suggestion.confidence = float(advice["confidence"])  # type: ignore[arg-type]
        d.advice_status = common_pb2.ADVICE_STATUS_ATTESTED
    else:
        d.advice_status = common_pb2.ADVICE_STATUS_NONE
    return d


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_times_are_paris_time_winter_and_summer() -> None:
    assert queue_table.paris_time(_ts(datetime(2026, 12, 6, 23, 30, tzinfo=UTC))) == (
        "07/12/2026 00:30"
    )
    assert queue_table.paris_time(_ts(datetime(2026, 7, 1, 8, 0, tzinfo=UTC))) == "01/07/2026 10:00"
    assert queue_table.paris_time(timestamp_pb2.Timestamp()) == "—"


def test_the_suggestion_is_short_with_whole_numbers_and_cut() -> None:
    d = _decision("D1", due_in=timedelta(days=1), output={"service": "voirie", "montant": 250})
    assert queue_table.suggestion_short(d) == '{"montant":250,"service":"voirie"}'[:31] + "…"
    small = _decision("D2", due_in=timedelta(days=1), output={"n": 3})
    assert queue_table.suggestion_short(small) == '{"n":3}'


def test_confidence_is_a_percentage_or_a_dash() -> None:
    d = _decision("D1", due_in=timedelta(days=1), output={"a": 1}, confidence=0.825)
    assert queue_table.confidence(d, FR) == "82\u00a0%"
    assert queue_table.confidence(d, EN) == "82%"
    assert queue_table.confidence(_decision("D2", due_in=timedelta(days=1), output={}), FR) == "—"
    assert queue_table.confidence(_decision("D3", due_in=timedelta(days=1)), FR) == "—"


@pytest.mark.parametrize(
    "status",
    [
        common_pb2.ADVICE_STATUS_UNAVAILABLE,
        common_pb2.ADVICE_STATUS_INVALID_OUTPUT,
        common_pb2.ADVICE_STATUS_STOPPED,
        common_pb2.ADVICE_STATUS_NONE,
    ],
)
def test_a_decision_without_a_valid_suggestion_is_flagged_sans_ia(status: int) -> None:
    d = _decision("D1", due_in=timedelta(days=1), output={"a": 1}, confidence=0.9)
    d.advice_status = status  # type: ignore[assignment]
    assert not queue_table.has_ai(d) and queue_table.suggestion_short(d) == ""
    _, rows = queue_table.rows([d], FR, {}, now=NOW, near=timedelta(hours=24))
    assert rows[0][4:6] == ["sans IA", "—"]


def test_due_soon_rows_are_marked_and_come_first_in_the_gateways_order() -> None:
    later = _decision("LATER", due_in=timedelta(days=3), output={"a": 1})
    soon = _decision("SOON", due_in=timedelta(hours=5))
    sooner = _decision("SOONER", due_in=timedelta(hours=2), output={"a": 2}, confidence=0.5)
    header, rows = queue_table.rows(
        [later, sooner, soon], FR, {}, now=NOW, near=timedelta(hours=24)
    )
    assert header[0] == "URGENT" and header[4:6] == ["SUGGESTION DE L'IA", "CONFIANCE"]
    assert [row[1] for row in rows] == ["SOONER", "SOON", "LATER"]
    assert [row[0] for row in rows] == ["⚠ bientôt", "⚠ bientôt", ""]
    assert rows[0][7] == "06/12/2026 15:00"
    _, calm = queue_table.rows([later, soon], FR, {}, now=NOW, near=timedelta(0))
    assert [row[0] for row in calm] == ["", ""]


def test_queue_list_options_parse() -> None:
    parser = build_parser(FR)
    args = parser.parse_args(
        ["queue", "list", "--mine", "--due-before", "2026-12-24T18:00", "--near", "48"]
    )
    assert args.mine and args.near == 48.0
    assert args.due_before == datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    default = parser.parse_args(["queue", "list"])
    assert (default.mine, default.due_before, default.near) == (False, None, 24.0)
    for bad in (["--near", "-1"], ["--near", "nan"], ["--due-before", "demain"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["queue", "list", *bad])
    assert parser.parse_args(["release", "D1"]).command == "release"


def test_a_withheld_suggestion_is_not_taken_for_a_decision_without_ai() -> None:
    d = _decision("D1", due_in=timedelta(days=1), output={"a": 1}, confidence=0.9)
    d.ClearField("suggestion")
    d.suggestion_withheld = True
    _, rows = queue_table.rows([d], FR, {}, now=NOW, near=timedelta(hours=24))
    assert rows[0][4] == "masquée jusqu'à votre avis"
