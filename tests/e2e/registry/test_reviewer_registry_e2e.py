"""The reviewer registry (R11): with `qualified_reviewers: required`, a reviewer whose
delegation expired (or was never granted, or was revoked) can neither claim nor decide, with
the day and the fix named; an administrator's renewal lets them; every change is in the trail;
only administrators change it; bad input is refused field by field and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import (
    AvalError,
    InvalidArgumentError,
    PermissionDeniedError,
)
from aval.v1 import admin_pb2, admin_pb2_grpc
from tests.support import ClockFile, ServerProcess, token_of

from ..helpers import Raw, all_events, fields_of, propose_kwargs, run_cli
from .helpers import QUALIFIED_TYPE, french, paris_day, write_policies

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    return ClockFile(tmp_path_factory.mktemp("registry-clock"))


@pytest.fixture(scope="module")
def server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, clock: ClockFile
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("registry-server")
    policies = write_policies(folder / "registry-policies")
    env = {**clock.env, "AVAL_POLICY_DIR": str(policies)}
    process = ServerProcess.start(database_url, folder, name="registry", extra_env=env)
    yield process
    assert process.stop() == 0, Path(process.log_path).read_text()


@pytest.fixture(scope="module")
def client_of(server: ServerProcess) -> Iterator[Any]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(server.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


def _refused(kind: type[AvalError], call: Any) -> AvalError:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def _grant(
    client: Client, reviewer: str, clock: ClockFile, start: int, end: int, **more: Any
) -> Any:
    now = clock.now()
    fields: dict[str, Any] = {
        "decision_type": QUALIFIED_TYPE,
        "trained_on": paris_day(now, start - 10),
        "delegated_by": "Mme la Maire, arrêté de délégation n° 2026-14",
        "valid_from": paris_day(now, start),
        "valid_until": paris_day(now, end),
        "reason": "formation suivie",
    }
    fields.update(more)
    return client.set_reviewer_qualification(reviewer, **fields)


def _decision_events(client_of: Any, decision_id: str) -> list[str]:
    return [e.kind for e in all_events(client_of("insp-a"), decision_id=decision_id)]


def test_an_expired_delegation_cannot_claim_nor_decide_until_an_administrator_renews_it_R11(
    client_of: Any, clock: ClockFile
) -> None:
    admin = client_of("admin-a")
    expired = _grant(admin, "sup-a1", clock, -30, -1).qualification
    yesterday = paris_day(clock.now(), -1)
    decision = client_of("app-a").propose(**propose_kwargs(QUALIFIED_TYPE)).decision
    before = _decision_events(client_of, decision.id)
    reviewer = client_of("sup-a1")
    for attempt in (
        lambda: reviewer.claim(decision.id),
        lambda: reviewer.decide(decision.id, verdict="approve"),
    ):
        error = _refused(PermissionDeniedError, attempt)
        assert error.reason == "QUALIFICATION_EXPIRED"
        assert french(yesterday) in error.localized and "renouveler" in error.localized
    assert _decision_events(client_of, decision.id) == before  # nothing written on refusal

    renewal = _grant(admin, "sup-a1", clock, -30, 30, reason="délégation renouvelée")
    assert renewal.renewed.id == expired.id and renewal.renewed.superseded_by
    renewed = renewal.qualification
    assert renewed.renews == expired.id
    reviewer.claim(decision.id)
    reviewer.decide(decision.id, verdict="approve")
    for kind in ("decision.claimed", "review.recorded"):
        (event,) = all_events(client_of("insp-a"), decision_id=decision.id, kind=kind)
        assert json_format.MessageToDict(event.data)["qualification"]["id"] == renewed.id
    verdicts = all_events(client_of("insp-a"), decision_id=decision.id, kind="review.recorded")
    data = json_format.MessageToDict(verdicts[-1].data)
    assert data["qualification"]["valid_until"] == paris_day(clock.now(), 30).isoformat()

    granted = [
        json_format.MessageToDict(e.data)
        for e in all_events(client_of("insp-a"), kind="admin.reviewer_qualified")
    ]
    ids = [g["qualification_id"] for g in granted]
    assert expired.id in ids and renewed.id in ids
    history = admin.list_reviewer_qualifications(reviewer_id="sup-a1", history=True)
    assert {q.id for q in history.qualifications} >= {expired.id, renewed.id}
    in_force = admin.list_reviewer_qualifications(reviewer_id="sup-a1").qualifications
    assert [q.id for q in in_force] == [renewed.id]


def test_missing_revoked_and_not_yet_valid_qualifications_are_refused_R11(
    client_of: Any, clock: ClockFile
) -> None:
    decision = client_of("app-a").propose(**propose_kwargs(QUALIFIED_TYPE)).decision
    error = _refused(PermissionDeniedError, lambda: client_of("sup-a2").claim(decision.id))
    assert error.reason == "QUALIFICATION_MISSING"
    admin = client_of("admin-a")
    later = _grant(admin, "sup-a2", clock, 2, 20).qualification
    error = _refused(
        PermissionDeniedError, lambda: client_of("sup-a2").decide(decision.id, verdict="approve")
    )
    assert error.reason == "QUALIFICATION_NOT_YET_VALID"
    assert french(paris_day(clock.now(), 2)) in error.localized
    admin.revoke_reviewer_qualification(later.id, reason="mutation dans un autre service")
    error = _refused(PermissionDeniedError, lambda: client_of("sup-a2").claim(decision.id))
    assert error.reason == "QUALIFICATION_REVOKED"
    revoked = [
        json_format.MessageToDict(e.data)
        for e in all_events(client_of("insp-a"), kind="admin.reviewer_qualification_revoked")
    ]
    assert any(later.id in str(r) for r in revoked)
    # A type whose policy does not ask for it is reviewed as before.
    other = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    client_of("sup-a2").decide(other.id, verdict="approve")


def test_a_qualification_lapses_when_the_clock_passes_its_last_day_R11(
    client_of: Any, clock: ClockFile
) -> None:
    _grant(client_of("admin-a"), "sup-a3", clock, -5, 0)  # valid until today, included
    decision = client_of("app-a").propose(**propose_kwargs(QUALIFIED_TYPE)).decision
    client_of("sup-a3").claim(decision.id)
    last_day = paris_day(clock.now())
    clock.advance(2 * 86400)
    error = _refused(
        PermissionDeniedError, lambda: client_of("sup-a3").decide(decision.id, verdict="approve")
    )
    assert error.reason == "QUALIFICATION_EXPIRED" and french(last_day) in error.localized


def test_only_administrators_of_the_tenant_change_or_read_the_registry_I5(
    client_of: Any, clock: ClockFile
) -> None:
    for principal in ("sup-a1", "app-a", "insp-a", "admin-b"):
        error = _refused(
            PermissionDeniedError,
            lambda p=principal: _grant(client_of(p), "sup-a1", clock, 0, 400, tenant="ville-a"),
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
    _refused(PermissionDeniedError, lambda: client_of("sup-a1").list_reviewer_qualifications())
    found = client_of("admin-a").list_reviewer_qualifications(history=True).qualifications
    _refused(
        PermissionDeniedError,
        lambda: client_of("sup-a1").revoke_reviewer_qualification(found[0].id, reason="moi"),
    )


LONG = "x" * 10_000


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"delegated_by": "\u200b\u200b"}, ["delegated_by"]),
        ({"delegated_by": "Maire\u202e"}, ["delegated_by"]),
        ({"reviewer_id": "sup-a1\u200b"}, ["reviewer_id"]),
        (
            {"valid_from": "2026-06-30", "valid_until": "2026-06-01", "trained_on": "2026-01-01"},
            ["valid_until"],
        ),
        ({"valid_until": "2026-02-30"}, ["valid_until"]),
        ({"valid_from": "30/06/2026"}, ["valid_from"]),
        ({"valid_until": "9999-12-31"}, ["valid_until"]),
        (
            {"trained_on": "2026-07-01", "valid_from": "2026-06-01", "valid_until": "2026-12-31"},
            ["trained_on"],
        ),
        ({"decision_type": "inconnu.type"}, ["decision_type"]),
        ({"reviewer_id": "personne-inconnue"}, ["reviewer_id"]),
        (
            {"reviewer_id": LONG, "delegated_by": LONG, "reason": LONG},
            ["delegated_by", "reason", "reviewer_id"],
        ),
        ({"reason": " \u2800 "}, ["reason"]),
    ],
)
def test_bad_input_names_every_bad_field_and_writes_nothing_I6(
    server: ServerProcess, client_of: Any, changes: dict[str, Any], fields: list[str]
) -> None:
    request: dict[str, Any] = {
        "tenant": "ville-a",
        "reviewer_id": "sup-a1",
        "decision_type": QUALIFIED_TYPE,
        "trained_on": "2026-01-01",
        "delegated_by": "M. le Maire",
        "valid_from": "2026-02-01",
        "valid_until": "2026-12-31",
        "reason": "formation",
    }
    request.update(changes)
    before = client_of("admin-a").list_reviewer_qualifications(history=True)
    raw = Raw(server.address)
    try:
        with pytest.raises(InvalidArgumentError) as caught:
            raw.call(
                admin_pb2_grpc.AdminStub(raw.channel).SetReviewerQualification,
                admin_pb2.SetReviewerQualificationRequest(**request),
                "admin-a",
            )
    finally:
        raw.close()
    assert fields_of(caught.value) == fields
    assert all(v.text for v in caught.value.violations)
    assert client_of("admin-a").list_reviewer_qualifications(history=True) == before


def test_the_cli_grants_lists_and_revokes_in_french(
    server: ServerProcess, client_of: Any, clock: ClockFile
) -> None:
    def cli(who: str, *args: str) -> Any:
        return run_cli(server.address, who, "admin", *args)

    today = paris_day(clock.now())
    grant = cli(
        "admin-a", "reviewers", "grant", "appsup-a", "--all-types",
        "--trained-on", paris_day(clock.now(), -3).isoformat(),
        "--from", today.isoformat(), "--until", paris_day(clock.now(), 90).isoformat(),
        "--delegated-by", "M. le Directeur général des services",
        "--reason", "formation du 3 mars",
    )  # fmt: skip
    assert grant.returncode == 0, grant.stderr
    assert "Habilitation accordée" in grant.stdout and "tous les types" in grant.stdout
    listed = cli("admin-a", "reviewers", "list", "--reviewer", "appsup-a")
    assert (
        listed.returncode == 0 and "en vigueur" in listed.stdout and french(today) in listed.stdout
    )
    qualification = client_of("admin-a").list_reviewer_qualifications(reviewer_id="appsup-a")
    (found,) = qualification.qualifications
    revoked = cli("admin-a", "reviewers", "revoke", found.id, "--reason", "départ")
    assert revoked.returncode == 0 and "retirée le" in revoked.stdout, revoked.stderr
    again = cli("admin-a", "reviewers", "revoke", found.id, "--reason", "départ")
    assert again.returncode != 0 and "n'est plus en vigueur" in again.stderr
    bad = cli(
        "admin-a", "reviewers", "grant", "appsup-a", "--type", QUALIFIED_TYPE,
        "--trained-on", "2026-01-01", "--from", "01/02/2026", "--until", "2026-12-31",
        "--delegated-by", "M. le Maire", "--reason", "essai",
    )  # fmt: skip
    assert bad.returncode != 0 and "AAAA-MM-JJ" in bad.stderr
    denied = cli("sup-a1", "reviewers", "list")
    assert denied.returncode != 0
    reload = cli("admin-a", "reload", "--reason", "relecture")
    assert reload.returncode == 0 and "rien n'a changé" in reload.stdout, reload.stderr
