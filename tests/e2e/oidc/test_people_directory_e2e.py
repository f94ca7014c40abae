"""People are shown by their display name, the trail keeps only their pseudonymous id: a person
signs in through a real OpenID provider and decides; the directory (not the trail) learns their
name without a write per call; those allowed in the tenant resolve it, nobody else; a name
changed at the provider is seen at the next sign-in; people not seen for the retention period
are purged by the deployment's clock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import grpc
import jwt
import psycopg
import pytest
import yaml
from jwt.algorithms import RSAAlgorithm

from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from tests.e2e.helpers import all_events, propose_kwargs, run_cli
from tests.support import ClockFile, ServerProcess, token_of

from .conftest import AUDIENCE
from .provider import Provider, rsa_jwk

ISSUER = "people-idp"
MARIE = f"oidc:{ISSUER}:marie"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "marie": {"groups": ["aval-superviseurs"], "tenant": "ville-a", "name": "Marie Dupont"},
    "paul": {"groups": ["aval-inspection"], "tenant": "ville-a", "name": "Paul Inspecteur"},
    "bea": {"groups": ["aval-superviseurs"], "tenant": "ville-b", "name": "Béatrice Blanc"},
    # A name made to reverse what a supervisor reads after it, with an invisible joiner.
    "eve": {"groups": ["aval-superviseurs"], "tenant": "ville-a", "name": "Eve\u202eLIVE\u200b"},
}


@pytest.fixture(scope="module")
def people_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("people-idp")
    accounts = {login: dict(claims) for login, claims in ACCOUNTS.items()}
    provider = Provider(folder, [rsa_jwk("p1")], AUDIENCE, accounts, name="people-idp").start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def people_db(new_database: Callable[..., str]) -> str:
    """A database of its own: the purge test moves the clock by months."""
    return new_database()


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> ClockFile:
    return ClockFile(tmp_path_factory.mktemp("people-clock"))


@pytest.fixture(scope="module")
def server(
    people_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    people_idp: Provider,
    clock: ClockFile,
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("people-server")
    oidc = {
        "issuers": [{"name": ISSUER, "issuer": people_idp.issuer, "audience": AUDIENCE}],
        "tenants": {
            "ville-a": {
                "issuer": ISSUER,
                "when": {"claim": "tenant", "equals": "ville-a"},
                "roles": {
                    "aval-superviseurs": ["supervisor"],
                    "aval-inspection": ["inspector"],
                },
            },
            "ville-b": {
                "issuer": ISSUER,
                "when": {"claim": "tenant", "equals": "ville-b"},
                "roles": {"aval-superviseurs": ["supervisor"]},
            },
        },
    }
    path = folder / "oidc.yaml"
    path.write_text(yaml.safe_dump(oidc), "utf-8")
    env = {
        "AVAL_OIDC_FILE": str(path),
        "AVAL_PEOPLE_PURGE_INTERVAL_SECONDS": "0.2",
        **clock.env,
    }
    process = ServerProcess.start(people_db, folder, name="people-server", extra_env=env)
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture
def as_person(server: ServerProcess, people_idp: Provider) -> Iterator[Callable[[str], Client]]:
    """A client of `login` signed in now (a fresh token: a name changed at the provider)."""
    clients: list[Client] = []

    def sign_in(login: str) -> Client:
        token = people_idp.user_token(login) if login in ACCOUNTS else token_of(login)
        clients.append(Client(server.address, token, timeout=20))
        return clients[-1]

    yield sign_in
    for client in clients:
        client.close()


def directory_row(url: str, principal_id: str) -> tuple[str, list[str], datetime] | None:
    """(display name, tenants, last seen) as the database holds them."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT display_name, tenants, last_seen FROM aval.people WHERE principal_id = %s",
            (principal_id,),
        ).fetchone()
    return None if row is None else (row[0], list(row[1]), row[2])


def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """The first truthy result of `check`, polled while the background writer works."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_a_person_who_decides_is_an_id_in_the_trail_and_a_name_for_the_inspector(
    as_person: Callable[[str], Client], people_db: str
) -> None:
    app = as_person("app-a")
    marie = as_person("marie")
    d = app.propose(**propose_kwargs("voirie.signalement", suggestion={"service": "voirie"}))
    marie.claim(d.decision.id)
    marie.decide(d.decision.id, verdict="approve")
    paul = as_person("paul")
    wanted = [MARIE, f"oidc:{ISSUER}:personne", "app-a", MARIE]
    names = eventually(lambda: paul.resolve_people(wanted))
    assert names == {MARIE: "Marie Dupont"}
    assert marie.resolve_people([MARIE]) == {MARIE: "Marie Dupont"}  # supervisors may too
    events = all_events(paul, decision_id=d.decision.id)
    assert {e.actor_id for e in events if e.kind == "review.recorded"} == {MARIE}
    assert all("Marie" not in str(e) for e in events)
    with psycopg.connect(people_db) as conn:
        [[in_trail]] = conn.execute(
            "SELECT count(*) FROM aval.audit_events e WHERE e::text LIKE '%Marie Dupont%'"
        ).fetchall()
    assert in_trail == 0
    row = directory_row(people_db, MARIE)
    assert row is not None and row[:2] == ("Marie Dupont", ["ville-a"])


def test_the_cli_shows_people_by_name_to_those_allowed_and_by_id_to_others(
    server: ServerProcess,
    people_idp: Provider,
    as_person: Callable[[str], Client],
) -> None:
    app, marie = as_person("app-a"), as_person("marie")
    decided = app.propose(**propose_kwargs("voirie.signalement", suggestion={"service": "a"}))
    claimed = app.propose(**propose_kwargs("voirie.signalement", suggestion={"service": "b"}))
    marie.claim(decided.decision.id)
    marie.decide(decided.decision.id, verdict="approve")
    marie.claim(claimed.decision.id)
    named = f"Marie Dupont ({MARIE})"
    inspector = people_idp.user_token("paul")
    eventually(lambda: as_person("paul").resolve_people([MARIE]))
    show = run_cli(server.address, None, "decision", "show", decided.decision.id, token=inspector)
    assert show.returncode == 0, show.stderr
    assert named in show.stdout
    events = run_cli(
        server.address, None, "audit", "events", "--decision", decided.decision.id, token=inspector
    )
    assert events.returncode == 0, events.stderr
    assert f"Marie Dupont (human:{MARIE})" in events.stdout
    queue = run_cli(server.address, None, "queue", "list", token=people_idp.user_token("marie"))
    assert queue.returncode == 0, queue.stderr
    assert named in queue.stdout
    as_json = run_cli(
        server.address, None, "--json", "decision", "show", decided.decision.id, token=inspector
    )
    assert as_json.returncode == 0 and "Marie" not in as_json.stdout  # JSON keeps the ids
    # An application may not see names: the same command shows the id alone.
    plain = run_cli(server.address, "app-a", "decision", "show", decided.decision.id)
    assert plain.returncode == 0, plain.stderr
    assert MARIE in plain.stdout and "Marie Dupont" not in plain.stdout


def test_other_tenants_and_applications_learn_no_name(
    as_person: Callable[[str], Client], people_db: str
) -> None:
    as_person("marie").list_queue()
    assert eventually(lambda: directory_row(people_db, MARIE)) is not None
    bea = as_person("bea")  # a supervisor of ville-b: Marie was never seen there
    assert bea.resolve_people([MARIE]) == {}
    with pytest.raises(AvalError) as caught:
        bea.resolve_people([MARIE], tenant="ville-a")
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(AvalError) as caught:
        as_person("app-a").resolve_people([MARIE])
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_too_many_or_too_long_ids_are_refused(as_person: Callable[[str], Client]) -> None:
    paul = as_person("paul")
    assert paul.resolve_people([f"oidc:{ISSUER}:{i}" for i in range(200)]) is not None
    with pytest.raises(AvalError) as caught:
        paul.resolve_people([f"oidc:{ISSUER}:{i}" for i in range(201)])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.reason for v in caught.value.violations] == ["TOO_MANY"]
    with pytest.raises(AvalError) as caught:
        paul.resolve_people(["oidc:" + "x" * 300, ""])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in caught.value.violations} == {"ids.0", "ids.1"}


def test_a_refused_token_writes_no_one(
    server: ServerProcess, people_idp: Provider, people_db: str
) -> None:
    attacker = rsa_jwk("p1")  # the provider's key id, another key
    now = int(time.time())
    claims = {
        "iss": people_idp.issuer,
        "aud": AUDIENCE,
        "sub": "intrus",
        "iat": now,
        "exp": now + 300,
        "groups": ["aval-superviseurs"],
        "tenant": "ville-a",
        "name": "Intrus",
    }
    key = RSAAlgorithm.from_jwk(json.dumps(attacker))
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "p1", "typ": "at+jwt"})
    with Client(server.address, token, timeout=20) as forged, pytest.raises(AvalError) as caught:
        forged.list_queue()
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    time.sleep(0.5)  # what a background write would take
    assert directory_row(people_db, f"oidc:{ISSUER}:intrus") is None


def test_invisible_and_bidi_characters_of_a_name_are_stored_escaped(
    as_person: Callable[[str], Client], people_db: str
) -> None:
    as_person("eve").list_queue()
    row = eventually(lambda: directory_row(people_db, f"oidc:{ISSUER}:eve"))
    assert row is not None and row[0] == "Eve\\u202eLIVE\\u200b"
    names = as_person("paul").resolve_people([f"oidc:{ISSUER}:eve"])
    assert names == {f"oidc:{ISSUER}:eve": "Eve\\u202eLIVE\\u200b"}


def test_a_name_changed_at_the_provider_is_seen_at_the_next_sign_in_without_a_write_per_call(
    as_person: Callable[[str], Client],
    people_idp: Provider,
    people_db: str,
    clock: ClockFile,
) -> None:
    marie = as_person("marie")
    marie.list_queue()
    first = eventually(lambda: directory_row(people_db, MARIE))
    assert first is not None
    for _ in range(5):  # calls within the hour write nothing
        marie.list_queue()
    time.sleep(0.3)
    assert directory_row(people_db, MARIE) == first
    people_idp.accounts["marie"]["name"] = "Marie Durand"
    try:
        people_idp.restart(people_idp.keys)
        renamed = as_person("marie")
        renamed.list_queue()
        assert eventually(
            lambda: as_person("paul").resolve_people([MARIE]) == {MARIE: "Marie Durand"}
        )
    finally:
        people_idp.accounts["marie"]["name"] = "Marie Dupont"
    # An hour later (the deployment's clock), the next call refreshes when she was last seen.
    before = directory_row(people_db, MARIE)
    assert before is not None
    clock.advance(3601)
    renamed.list_queue()
    after = eventually(
        lambda: (row := directory_row(people_db, MARIE)) is not None and row[2] > before[2] and row
    )
    assert after and after[2] - before[2] >= timedelta(seconds=3600)


def test_people_not_seen_for_the_retention_period_are_purged(
    as_person: Callable[[str], Client], people_db: str, clock: ClockFile
) -> None:
    # Last in the module: the clock moves by a year and more.
    as_person("marie").list_queue()
    assert eventually(lambda: directory_row(people_db, MARIE)) is not None
    clock.advance(11 * 31 * 86400)  # within 12 months: kept
    time.sleep(0.6)  # three purges at least
    assert directory_row(people_db, MARIE) is not None
    clock.advance(2 * 31 * 86400)
    assert eventually(lambda: directory_row(people_db, MARIE) is None)
    assert as_person("paul").resolve_people([MARIE]) == {}
