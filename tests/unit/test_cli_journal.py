"""`--purpose` and AVAL_PURPOSE reach the SDK client of every gateway command (R13)."""

from __future__ import annotations

import pytest

from aval.v1 import review_pb2

from .test_cli_parsing import FakeClient, gateway, run

__all__ = ["gateway"]  # the fixture, shared with the command line's parsing tests


def test_the_purpose_of_reads_reaches_the_client_R13(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.results["list_queue"] = review_pb2.ListQueueResponse()
    assert run(capsys, "queue", "list", "--purpose", "dossier 42")[0] == 0
    assert gateway.purpose == "dossier 42"
    monkeypatch.setenv("AVAL_PURPOSE", "contrôle")
    assert run(capsys, "queue", "list")[0] == 0
    assert gateway.purpose == "contrôle"
    monkeypatch.delenv("AVAL_PURPOSE")
    assert run(capsys, "--purpose", "avant la commande", "queue", "list")[0] == 0
    assert gateway.purpose == "avant la commande"
