"""People signed in through a real OpenID provider use the gateway: their tokens come from the
authorization code flow with PKCE, their roles from their groups, their id in the trail is
stable and carries no name; expired, misdirected and rotated-out tokens are refused, writing
nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import jwt
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import AvalError
from tests.e2e.helpers import all_events, propose_kwargs, queue_ids
from tests.support import ServerProcess, token_of

from .provider import Provider

PERSON = "oidc:test-idp:sup1"


@pytest.fixture
def client_with(oidc_server: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: list[Client] = []

    def make(token: str) -> Client:
        clients.append(Client(oidc_server.address, token, timeout=20))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def refused(call: Callable[[], object]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        call()
    return caught.value


def test_a_supervisor_signed_in_lists_claims_and_decides_under_a_stable_id(
    idp: Provider, client_with: Callable[[str], Client]
) -> None:
    app = client_with(token_of("app-a"))  # applications keep their file tokens
    person = client_with(idp.user_token("sup1"))
    d = app.propose(**propose_kwargs("voirie.signalement", suggestion={"service": "voirie"}))
    assert d.decision.id in queue_ids(person, actionable_only=True)
    claimed = person.claim(d.decision.id)
    assert claimed.claim.claimed_by == PERSON
    decided = person.decide(d.decision.id, verdict="approve")
    assert decided.approvals == 1
    # A second sign-in is the same person for the trail and for separation of duties.
    again = client_with(idp.user_token("sup1"))
    assert d.decision.id not in queue_ids(again, actionable_only=True)
    inspector = client_with(idp.user_token("insp1"))
    events = all_events(inspector, decision_id=d.decision.id)
    actors = {e.kind: (e.actor_id, e.actor_type) for e in events}
    assert actors["decision.claimed"] == (PERSON, "human"), actors
    assert actors["review.recorded"] == (PERSON, "human"), actors
    # The display name is personal data: it is never written into the trail.
    assert all("Sophie" not in str(e) for e in events)


def test_an_expired_token_is_refused_and_writes_nothing(
    idp: Provider, client_with: Callable[[str], Client], written: Callable[[], tuple[int, int]]
) -> None:
    person = client_with(idp.user_token("sup1", client="console-short"))  # 2 s tokens
    list(queue_ids(person))
    time.sleep(3.1)
    before = written()
    error = refused(lambda: list(queue_ids(person)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "TOKEN_EXPIRED"
    assert "reconnectez-vous" in error.localized
    assert written() == before


def test_a_token_for_another_audience_is_refused(
    other_audience: Provider,
    client_with: Callable[[str], Client],
    written: Callable[[], tuple[int, int]],
) -> None:
    person = client_with(other_audience.user_token("sup1"))
    before = written()
    error = refused(lambda: list(queue_ids(person, tenant="ville-c")))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "WRONG_AUDIENCE"
    assert "urn:aval:test" in str(error)
    assert written() == before


def test_a_person_whose_groups_give_no_role_is_denied_naming_the_fix(
    idp: Provider, client_with: Callable[[str], Client], written: Callable[[], tuple[int, int]]
) -> None:
    person = client_with(idp.user_token("nogroup"))
    before = written()
    error = refused(lambda: list(queue_ids(person)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.reason == "NOT_GRANTED_BY_SIGN_IN"
    assert "oidc:test-idp:nogroup" in str(error) and "identity provider" in str(error)
    assert written() == before


def test_a_person_of_one_tenant_is_denied_in_another_as_if_it_did_not_exist(
    idp: Provider, client_with: Callable[[str], Client], written: Callable[[], tuple[int, int]]
) -> None:
    app_b = client_with(token_of("app-b"))
    d = app_b.propose(**propose_kwargs("voirie.signalement", suggestion={"x": 1}, tenant="ville-b"))
    person = client_with(idp.user_token("sup1"))
    before = written()
    answers = []
    for tenant in ("ville-b", "ville-nowhere"):
        error = refused(lambda t=tenant: list(queue_ids(person, tenant=t)))  # type: ignore[misc]
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
        answers.append(error.reason)
        error = refused(lambda t=tenant: person.claim(d.decision.id, tenant=t))  # type: ignore[misc]
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert answers == ["NOT_GRANTED_BY_SIGN_IN"] * 2  # I5: a tenant's existence is not told
    assert written() == before
    # The supervisor of ville-b, from the same provider, sees it.
    assert d.decision.id in queue_ids(client_with(idp.user_token("supb")), tenant="ville-b")


def test_a_rotated_signing_key_new_tokens_pass_and_removed_keys_are_refused(
    idp: Provider,
    keys: dict[str, dict[str, object]],
    client_with: Callable[[str], Client],
    written: Callable[[], tuple[int, int]],
) -> None:
    old = client_with(idp.user_token("sup1"))  # signed with k1
    list(queue_ids(old))
    idp.restart([keys["k2"], keys["k1"]])  # k2 signs, k1 still published
    time.sleep(1.1)  # the refetch interval of the test issuer
    new_token = idp.user_token("sup1")
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    new = client_with(new_token)
    list(queue_ids(new))  # an unknown kid: the keys are fetched again
    list(queue_ids(old))  # k1 is still published
    idp.restart([keys["k2"]])  # k1 is gone
    time.sleep(1.1)  # the keys held grow stale (jwks_max_age_seconds: 1)
    before = written()
    error = refused(lambda: list(queue_ids(old)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "UNKNOWN_SIGNING_KEY" and "k1" in str(error)
    list(queue_ids(new))
    assert written() == before
