"""The ``aval`` command line without a server: parsing, exit codes, one-line errors, output."""

from __future__ import annotations

import inspect
import json
import re
import socket
import string
import sys
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from aval.clients.cli import parser as cli_parser
from aval.clients.cli import program as cli
from aval.clients.cli.messages import CATALOGUES, Messages
from aval.clients.sdk.client import Client
from aval.clients.sdk.errors import FieldViolation, InvalidArgumentError
from aval.v1 import audit_pb2, common_pb2, review_pb2

# One representative command line per command; the dispatch table must know each of them.
COMMAND_LINES = {
    "serve": ["serve"],
    "migrate": ["migrate"],
    "propose": ["propose", "--type", "t", "--subject", "s", "--input", "{}", "--suggestion", "{}"],
    "queue list": ["queue", "list"],
    "claim": ["claim", "D1"],
    "release": ["release", "D1"],
    "decide": ["decide", "D1", "--approve"],
    "decision show": ["decision", "show", "D1"],
    "decision watch": ["decision", "watch", "D1"],
    "audit events": ["audit", "events"],
    "audit export": ["audit", "export"],
    "audit verify": ["audit", "verify"],
    "audit explain": ["audit", "explain", "D1"],
    "keys generate": ["keys", "generate"],
    "witness serve": [
        *("witness", "serve", "--listen", "127.0.0.1:0", "--name", "w.example/t"),
        *("--logs", "logs.txt", "--state", "state.db", "--key", "w.key"),
    ],
    "audit checkpoint": ["audit", "checkpoint"],
    "audit checkpoints": ["audit", "checkpoints"],
    "audit prove": ["audit", "prove", "1"],
    "audit consistency": ["audit", "consistency", "1", "2"],
    "audit stats": ["audit", "stats"],
    "admin systems register": [
        *("admin", "systems", "register", "orienteur", "--kind", "advisor"),
        *("--endpoint", "127.0.0.1:50061", "--reason", "mise en service"),
    ],
    "admin systems list": ["admin", "systems", "list"],
    "admin versions add": ["admin", "versions", "add", "orienteur", "1.0", "--purpose", "p"],
    "admin pin": ["admin", "pin", "orienteur", "1.0", "--reason", "r"],
    "admin pins": ["admin", "pins", "--pending"],
    "admin pins approve": ["admin", "pins", "approve", "P1", "--reason", "r"],
    "admin pins refuse": ["admin", "pins", "refuse", "P1", "--reason", "r"],
    "admin shadow": ["admin", "shadow", "orienteur", "--off", "--reason", "r"],
    "admin stop": ["admin", "stop", "--type", "voirie.signalement", "--reason", "r"],
    "admin resume": ["admin", "resume", "--ai-system", "orienteur", "--reason", "r"],
    "admin stops": ["admin", "stops"],
    "admin evaluate": ["admin", "evaluate", "orienteur", "--since", "2026-01-01"],
    "admin usage": ["admin", "usage", "--until", "2026-02-01"],
    "admin webhooks list": ["admin", "webhooks", "list", "--status", "dead", "--limit", "5"],
    "admin reviewers grant": [
        "admin",
        "reviewers",
        "grant",
        "sup-a1",
        "--type",
        "t",
        "--trained-on",
        "2026-01-01",
        "--from",
        "2026-01-02",
        "--until",
        "2026-12-31",
        "--delegated-by",
        "Maire",
        "--reason",
        "r",
    ],
    "admin reviewers revoke": ["admin", "reviewers", "revoke", "Q1", "--reason", "r"],
    "admin reviewers list": ["admin", "reviewers", "list", "--history"],
    "admin reload": ["admin", "reload", "--reason", "r"],
    "journal list": ["journal", "list", "--reader", "sup-a1", "--action", "decision.get"],
    "journal export": ["journal", "export", "--decision", "D1"],
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AVAL_ADDRESS", "AVAL_TOKEN", "AVAL_LANG"):
        monkeypatch.delenv(name, raising=False)


def parse(*argv: str) -> Any:
    return cli_parser.build_parser(Messages("fr")).parse_args(list(argv))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    """Runs the command line; returns its status, its stdout and its stderr lines."""
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()


class FakeClient:
    """Stands for the gateway: answers with canned results or raises a canned error."""

    results: ClassVar[dict[str, Any]] = {}
    calls: ClassVar[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = []
    purpose: ClassVar[str | None] = None

    def __init__(self, address: str, token: str | None, **options: Any) -> None:
        self.address, FakeClient.purpose = address, options.get("purpose")

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        """Only the SDK's methods the test gave a result for, called as the SDK accepts them.

        Anything else fails the test, naming the call: a command cannot pass because a call
        it made silently did nothing.
        """
        real = getattr(Client, name, None)
        if not callable(real) or name.startswith("_"):
            raise AssertionError(f"the SDK has no method {name}, yet the command called it")
        if name not in FakeClient.results:
            raise AssertionError(f"unexpected call to Client.{name}: the test expects none")
        signature = inspect.signature(real)
        parameters = list(signature.parameters.values())
        if parameters and parameters[0].name == "self":  # a plain method, not a wrapped call
            signature = signature.replace(parameters=parameters[1:])

        def method(*args: Any, **kwargs: Any) -> Any:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise AssertionError(f"Client.{name} called with wrong arguments: {exc}") from exc
            FakeClient.calls.append((name, args, kwargs))
            result = FakeClient.results[name]
            if isinstance(result, Exception):
                raise result
            return result

        return method


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeClient]]:
    monkeypatch.setattr(cli, "Client", FakeClient)
    monkeypatch.setenv("AVAL_TOKEN", "secret")
    FakeClient.results = {}
    FakeClient.calls = []
    yield FakeClient
    # A canned answer nobody asked for means the command skipped a call the test relies on.
    unused = set(FakeClient.results) - {name for name, _, _ in FakeClient.calls}
    assert not unused, f"the command never called {sorted(unused)}"


def approved_decision() -> common_pb2.Decision:
    decision = common_pb2.Decision(
        id="D1",
        decision_type="orientation_courrier",
        subject_ref="dossier-42",
        state=common_pb2.DECISION_STATE_APPROVED,
        required_approvals=2,
        approvals=2,
    )
    decision.suggestion.output.update({"service": "voirie"})
    decision.suggestion.confidence = 0.87
    decision.outcome.update({"service": "voirie", "montant_centimes": 30000})
    decision.reviews.add(
        reviewer_id="agent-martin", verdict=common_pb2.VERDICT_APPROVE, justification="conforme"
    )
    return decision


def test_global_options_are_accepted_before_and_after_the_command() -> None:
    before = parse("--json", "--address", "gw:1", "--lang", "en", "decision", "show", "D1")
    after = parse("decision", "show", "D1", "--json", "--address", "gw:1", "--lang", "en")
    for args in (before, after):
        assert (args.command, args.id, args.json, args.address, args.lang) == (
            "decision show",
            "D1",
            True,
            "gw:1",
            "en",
        )


def test_global_options_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (parse("audit", "verify").address, parse("audit", "verify").token) == (
        "127.0.0.1:50051",
        None,
    )
    monkeypatch.setenv("AVAL_ADDRESS", "gateway.mairie.fr:443")
    monkeypatch.setenv("AVAL_TOKEN", "secret")
    monkeypatch.setenv("AVAL_LANG", "en_GB.UTF-8")
    args = parse("audit", "verify")
    assert (args.address, args.token, args.lang) == ("gateway.mairie.fr:443", "secret", "en")


def test_propose_parses_json_objects_and_options() -> None:
    args = parse(
        *COMMAND_LINES["propose"][:6],
        '{"objet": "nid-de-poule", "rue": 12}',
        "--suggestion",
        '{"service": "voirie"}',
        "--confidence",
        "0.8",
        "--model",
        "mistral-small@3.1",
    )
    assert args.input == {"objet": "nid-de-poule", "rue": 12}
    assert args.suggestion == {"service": "voirie"}
    assert (args.confidence, args.model, args.idempotency_key) == (0.8, "mistral-small@3.1", None)


def test_amend_carries_the_amended_output_and_excludes_other_verdicts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse("decide", "D1", "--amend", '{"service": "propreté"}', "--justification", "erreur")
    assert (args.amended_output, args.verdict) == ({"service": "propreté"}, None)
    status, out, err = run(capsys, "decide", "D1", "--approve", "--reject")
    assert (status, out, len(err)) == (2, "", 1)
    assert err[0].startswith("erreur: argument --reject")
    status, _, err = run(capsys, "decide", "D1")
    assert status == 2 and len(err) == 1


def test_invalid_json_names_the_option_and_the_position(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*COMMAND_LINES["propose"][:6], '{"a": 1,', "--suggestion", "{}"]
    status, out, err = run(capsys, *argv)
    assert (status, out, len(err)) == (2, "", 1)
    assert err[0].startswith("erreur: argument --input: JSON invalide")
    assert "ligne 1, colonne 9" in err[0]


def test_json_that_is_not_an_object_is_refused_in_english(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "--lang", "en", "decide", "D1", "--amend", "[1, 2]")
    assert status == 2
    assert err == [
        "error: argument --amend: a JSON object is expected, e.g. "
        '{"service": "voirie"} (see \'aval decide --help\')'
    ]


def test_negative_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "claim", "D1", "--lease", "-5")[0] == 2
    assert run(capsys, "queue", "list", "--page-size", "-1")[0] == 2
    assert parse("claim", "D1", "--lease", "90").lease == 90.0


def test_missing_token_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "decision", "show", "D1")
    assert (status, out) == (1, "")
    assert err == ["erreur: aucun jeton d'accès : définissez AVAL_TOKEN ou passez --token"]


def test_unreachable_gateway_names_the_address_and_aval_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    status, _, err = run(capsys, "--token", "t", "--address", address, "decision", "show", "D1")
    assert status == 1 and len(err) == 1
    assert err[0].startswith("erreur: passerelle injoignable à " + address)
    assert "aval serve" in err[0]


def test_every_command_is_dispatched() -> None:
    handled = set(cli._LOCAL_COMMANDS) | set(cli._GATEWAY_COMMANDS)
    assert handled == set(COMMAND_LINES)
    for name, argv in COMMAND_LINES.items():
        assert parse(*argv).command == name


def test_serve_and_migrate_run_the_server_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def serve(*, listen: str | None, demo: bool, workers: int | None) -> int:
        seen.update(listen=listen, demo=demo, workers=workers)
        return 7

    def migrate() -> int:
        seen.update(migrated=True)
        return 0

    fake = types.ModuleType("aval.service.runtime.commands")
    fake.serve = serve  # type: ignore[attr-defined]
    fake.migrate = migrate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aval.service.runtime.commands", fake)
    assert cli.main(["serve", "--listen", "0.0.0.0:6000", "--demo", "--workers", "2"]) == 7
    assert seen == {"listen": "0.0.0.0:6000", "demo": True, "workers": 2}
    assert cli.main(["migrate"]) == 0
    assert seen["migrated"] is True


def test_field_violations_are_listed_on_one_line(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.results["propose"] = InvalidArgumentError(
        "invalid request",
        violations=[
            FieldViolation("input.montant", "doit être positif"),
            FieldViolation("subject_ref", "requis"),
        ],
    )
    status, out, err = run(capsys, *COMMAND_LINES["propose"])
    assert (status, out) == (1, "")
    assert err == [
        "erreur: requête refusée : input.montant: doit être positif; subject_ref: requis"
    ]


def test_decide_sends_the_verdict_and_shows_the_decision_in_french(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.results["decide"] = approved_decision()
    gateway.results["resolve_people"] = {"agent-martin": "Agnès Martin"}
    status, out, err = run(capsys, "decide", "D1", "--amend", '{"service": "propreté"}')
    assert (status, err) == (0, [])
    name, args, kwargs = gateway.calls[0]
    assert (name, args, kwargs["verdict"]) == ("decide", ("D1",), "amend")
    assert kwargs["amended_output"] == {"service": "propreté"}
    assert re.search(r"^État\s+approuvée$", out, re.MULTILINE)
    assert re.search(r"^Validations\s+2/2$", out, re.MULTILINE)
    assert '{"service": "voirie"} (confiance 0,87)' in out
    assert re.search(r'^Résultat\s+\{"montant_centimes": 30000, "service": "voirie"\}$', out, re.M)
    assert "Agnès Martin (agent-martin) approuve" in out
    assert gateway.calls[1][0] == "resolve_people"  # the names of the people it shows


def test_json_output_is_one_document_with_default_fields(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.results["verify_trail"] = [
        audit_pb2.VerifyTrailResponse(
            report=audit_pb2.VerifyChainResponse(ok=True, events_checked=3)
        )
    ]
    status, out, _ = run(capsys, "audit", "verify", "--json")
    document = json.loads(out)
    assert status == 0
    assert document["ok"] is True and document["problems"] == []


def test_failed_verification_exits_1_and_names_the_first_bad_event(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    report = audit_pb2.VerifyChainResponse(
        ok=False,
        problems=[
            audit_pb2.VerificationProblem(
                kind="state_mismatch", tenant="ville-demo", decision_id="D9", detail="état"
            ),
            audit_pb2.VerificationProblem(kind="hash_mismatch", tenant="ville-demo", seq=7),
            audit_pb2.VerificationProblem(kind="broken_link", tenant="ville-demo", seq=3),
        ],
    )
    gateway.results["verify_trail"] = [
        audit_pb2.VerifyTrailResponse(
            progress=audit_pb2.VerificationProgress(events_checked=5, events_total=9)
        ),
        audit_pb2.VerifyTrailResponse(report=report),
    ]
    status, out, err = run(capsys, "audit", "verify")
    assert status == 1
    assert len(out.splitlines()) == 3
    assert "broken_link — collectivité ville-demo, événement n° 3" in out
    assert err == [
        "erreur: piste d'audit altérée : 3 problème(s), le premier : broken_link à l'événement n° 3"
    ]


def test_queue_is_a_table_with_the_next_page(
    gateway: type[FakeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    response = gateway.results["list_queue"] = review_pb2.ListQueueResponse(
        decisions=[
            common_pb2.Decision(
                id="D1",
                decision_type="orientation_courrier",
                subject_ref="dossier-42",
                required_approvals=2,
            )
        ],
        next_page_token="p2",
    )
    status, out, _ = run(capsys, "queue", "list", "--actionable")
    lines = out.splitlines()
    assert status == 0 and gateway.calls[0][2]["actionable_only"] is True
    assert lines[0].split() == [
        *("URGENT", "DÉCISION", "TYPE", "SUJET", "SUGGESTION", "DE", "L'IA", "CONFIANCE"),
        *("VALID.", "ÉCHÉANCE", "RÉSERVÉE", "PAR"),
    ]
    assert lines[1].split()[:7] == [
        *("D1", "orientation_courrier", "dossier-42", "sans", "IA", "—", "0/2")
    ]
    assert lines[-1] == f"Page suivante : --page-token {response.next_page_token}"


def test_catalogues_have_the_same_entries_and_placeholders() -> None:
    def placeholders(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    french, english = CATALOGUES["fr"], CATALOGUES["en"]
    assert french.keys() == english.keys()
    for key, text in french.items():
        assert placeholders(text) == placeholders(english[key]), key
    for value in common_pb2.DecisionState.DESCRIPTOR.values:
        assert f"state.{value.name}" in french
    for value in common_pb2.Verdict.DESCRIPTOR.values:
        assert f"verdict.{value.name}" in french
