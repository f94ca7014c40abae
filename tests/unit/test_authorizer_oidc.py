"""People of an identity provider are authorised from the roles their token gave them, like the
principals of the file, with answers kept per role (not per person)."""

from __future__ import annotations

import itertools

import pytest

from aval.service.authorization import Authorizer
from aval.service.errors import PermissionDenied
from aval.service.identity import ROLES
from aval.service.oidc import OidcPrincipal, principal_id

from .test_authorizer_identity import ACTIONS, GRANTS


def person(sub: str, roles: dict[str, frozenset[str]]) -> OidcPrincipal:
    home = next(iter(roles), "ville-a")
    return OidcPrincipal(principal_id("idp", sub), home, roles, issuer="idp", subject=sub)


def test_a_person_holds_exactly_the_grants_of_the_roles_their_token_gave() -> None:
    authorizer = Authorizer()
    people = [
        person(sub, {"ville-a": frozenset(combo)} if combo else {})
        for sub, combo in zip(
            [*ROLES, "ville-a", "*", "u1", "u2"],
            [*[()] * (len(ROLES) + 2), ("supervisor",), ("inspector", "admin")],
            strict=True,
        )
    ]
    for p, tenant, action in itertools.product(people, ("ville-a", "ville-b"), ACTIONS):
        expected = any(action in GRANTS[role] for role in p.roles_in(tenant))
        assert authorizer.allowed(p, tenant, action) == expected, (p.id, tenant, action)


def test_answers_are_kept_per_role_so_many_people_do_not_grow_them() -> None:
    authorizer = Authorizer()
    for i in range(2000):
        p = person(f"u{i}", {"ville-a": frozenset({"supervisor"})})
        authorizer.allowed(p, "ville-a", "queue.list")
        authorizer.allowed(p, "ville-zz", "queue.list")
    assert authorizer.cached_answers == 1


def test_a_person_refused_is_told_to_ask_for_a_group_of_their_provider() -> None:
    p = person("u1", {"ville-a": frozenset({"inspector"})})
    for tenant in ("ville-a", "ville-b", "ville-zz"):
        with pytest.raises(PermissionDenied) as refused:
            Authorizer().require(p, tenant, "decision.decide")
        assert refused.value.reason == "NOT_GRANTED_BY_SIGN_IN"
        assert refused.value.params == {
            "principal": "oidc:idp:u1",
            "action": "decision.decide",
            "tenant": tenant,
            "issuer": "idp",
        }
        assert "identity provider" in refused.value.text("en")
