"""`--seen-version` on `aval claim` and `aval decide`: parsed, checked, sent; the version shown."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_cli_parsing import FakeClient, approved_decision, gateway, parse, run

__all__ = ["gateway"]  # the fixture, shared with the parsing tests


def test_seen_version_defaults_to_zero_and_refuses_negatives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse("decide", "D1", "--approve").seen_version == 0
    assert parse("decide", "D1", "--approve", "--seen-version", "7").seen_version == 7
    assert parse("claim", "D1", "--seen-version", "3").seen_version == 3
    assert run(capsys, "decide", "D1", "--approve", "--seen-version", "-1")[0] == 2


def test_decide_sends_the_seen_version_and_shows_the_new_one(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    decision = approved_decision()
    decision.version = 8
    gateway.results["decide"] = decision
    gateway.results["resolve_people"] = {}
    status, out, err = run(capsys, "decide", "D1", "--approve", "--seen-version", "7")
    assert (status, err) == (0, [])
    name, _, kwargs = gateway.calls[0]
    assert (name, kwargs["seen_version"]) == ("decide", 7)
    assert re.search(r"^Version\s+8$", out, re.MULTILINE)
