"""Authentication levels through the real server and a real OpenID provider: where a policy
names approver_acr, a person whose token's `acr` is not in it may neither claim nor decide
(PERMISSION_DENIED, AUTHENTICATION_LEVEL, naming the levels); one signed in at an accepted
level may; a static token has no level and is refused."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import PermissionDeniedError
from tests.e2e.helpers import propose_kwargs
from tests.e2e.oidc.provider import Provider
from tests.support import ServerProcess, token_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def people(acr_server: ServerProcess, idp: Provider) -> Iterator[dict[str, Client]]:
    made = {
        login: Client(acr_server.address, idp.user_token(login), timeout=20)
        for login in ("agent-fort", "agent-faible")
    }
    made["app-a"] = Client(acr_server.address, token_of("app-a"), timeout=20)
    made["sup-a1"] = Client(acr_server.address, token_of("sup-a1"), timeout=20)
    yield made
    for client in made.values():
        client.close()


def _propose(people: dict[str, Client]) -> str:
    return str(people["app-a"].propose(**propose_kwargs("acr.requis")).decision.id)


def test_the_provider_states_the_level_in_the_access_token(idp: Provider) -> None:
    claims = jwt.decode(idp.user_token("agent-faible"), options={"verify_signature": False})
    assert claims["acr"] == "eidas1"


def test_a_weak_sign_in_may_neither_claim_nor_decide(people: dict[str, Client]) -> None:
    decision_id = _propose(people)
    weak = people["agent-faible"]
    case = weak.get_case(decision_id)
    assert list(case.policy.approver_acr) == ["eidas2", "eidas3"]
    for act in (
        lambda: weak.claim(decision_id),
        lambda: weak.decide(decision_id, verdict="approve"),
        lambda: weak.decide(decision_id, verdict="reject", justification="non"),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            act()
        assert refused.value.reason == "AUTHENTICATION_LEVEL"
        assert "eidas2, eidas3" in refused.value.localized
        assert "eidas1" in refused.value.localized


def test_a_static_token_has_no_level_and_is_refused(people: dict[str, Client]) -> None:
    decision_id = _propose(people)
    with pytest.raises(PermissionDeniedError) as refused:
        people["sup-a1"].decide(decision_id, verdict="approve")
    assert refused.value.reason == "AUTHENTICATION_LEVEL"


def test_a_sign_in_at_an_accepted_level_decides(people: dict[str, Client]) -> None:
    decision_id = _propose(people)
    strong = people["agent-fort"]
    strong.claim(decision_id)
    done = strong.decide(decision_id, verdict="approve")
    assert done.reviews[0].reviewer_id.startswith("oidc:acr-idp:")


def test_types_without_levels_take_any_sign_in(people: dict[str, Client]) -> None:
    decision_id = people["app-a"].propose(**propose_kwargs("voirie.signalement")).decision.id
    assert people["agent-faible"].decide(decision_id, verdict="approve").approvals == 1
