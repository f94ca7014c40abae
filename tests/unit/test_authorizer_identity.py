"""The Authorizer answers for a principal with its own grants only, never another's (I5)."""

from __future__ import annotations

import csv
import itertools
from importlib import resources
from pathlib import Path

import pytest

from aval.service.authorization import Authorizer, GrantsFileError
from aval.service.errors import PermissionDenied
from aval.service.identity import ROLES, Principal
from tests.support import PRINCIPALS

TENANTS = ("ville-a", "ville-b")


def _grants() -> dict[str, set[str]]:
    """role -> actions, read from the packaged grants file (every tenant: '*')."""
    text = resources.files("aval.policies").joinpath("grants.csv").read_text(encoding="utf-8")
    actions: dict[str, set[str]] = {role: set() for role in ROLES}
    for row in csv.reader(line for line in text.splitlines() if not line.startswith("#")):
        if row and row[0].strip() == "p":
            role, domain, action = (cell.strip() for cell in row[1:4])
            assert domain == "*"
            actions[role].add(action)
    return actions


GRANTS = _grants()
ACTIONS = sorted(set().union(*GRANTS.values()))


def _principals() -> list[Principal]:
    """The tests' principals, each also under its id in the other tenant with other roles, and
    principals named after roles, after another's key, or after another tenant."""
    found = []
    for pid, (home, roles, grants) in PRINCIPALS.items():
        held = {home: frozenset(roles)}
        for grant in grants:
            held[str(grant["tenant"])] = frozenset(grant["roles"])  # type: ignore[arg-type]
        found.append(Principal(pid, home, held))
        other = "ville-b" if home == "ville-a" else "ville-a"
        rotated = frozenset(ROLES[(ROLES.index(r) + 1) % len(ROLES)] for r in roles)
        found.append(Principal(pid, other, {other: rotated}))
    for i, role in enumerate(ROLES):
        found.append(Principal(role, "ville-a", {"ville-a": frozenset({ROLES[i - 1]})}))
    found.append(Principal(str(found[0].key), "ville-b", {"ville-b": frozenset({"application"})}))
    found.append(Principal("ville-a", "ville-b", {"ville-b": frozenset({"supervisor"})}))
    found.append(Principal("*", "ville-b", {"ville-b": frozenset({"inspector"})}))
    return found


def _expected(p: Principal, tenant: str, action: str) -> bool:
    return any(action in GRANTS[role] for role in p.roles_in(tenant))


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_no_principal_is_ever_answered_with_anothers_grants_I5(order: str) -> None:
    """Every principal × every action of the grants × both tenants (and one unknown), with the
    answers cached in either order: a principal sharing an id with another, or named like a
    role, a tenant or another's key, holds exactly its own roles' grants."""
    principals = _principals()
    authorizer = Authorizer(principals)
    cells = list(itertools.product(principals, (*TENANTS, "ville-zz"), ACTIONS))
    if order == "backward":
        cells.reverse()
    wrong = []
    for _ in range(2):  # the second pass is answered from the cache
        for p, tenant, action in cells:
            if authorizer.allowed(p, tenant, action) != _expected(p, tenant, action):
                wrong.append((p.id, p.tenant, tenant, action))
    assert not wrong, wrong
    assert len(cells) > 1000


def test_a_refusal_names_the_principal_and_says_only_that_nothing_grants_it() -> None:
    p = Principal("app-a", "ville-a", {"ville-a": frozenset({"application"})})
    authorizer = Authorizer([p])
    for tenant in ("ville-b", "ville-zz"):
        with pytest.raises(PermissionDenied) as refused:
            authorizer.require(p, tenant, "audit.query")
        assert refused.value.reason == "NOT_GRANTED"
        expected = {"principal": "app-a", "action": "audit.query", "tenant": tenant}
        assert refused.value.params == expected


def test_answers_about_made_up_tenants_are_not_kept() -> None:
    """A caller chooses the tenant names it sends: none of them may grow the server's memory."""
    p = Principal("app-a", "ville-a", {"ville-a": frozenset({"application"})})
    authorizer = Authorizer([p])
    for i in range(1000):
        assert not authorizer.allowed(p, f"ville-{i}", "decision.read")
    assert authorizer.allowed(p, "ville-a", "decision.read")
    assert authorizer.cached_answers <= len(ACTIONS)


@pytest.mark.parametrize(
    "line",
    [
        "p, app-a, *, audit.query",  # a grant to a principal's bare id
        "p, maire, ville-a, audit.query",  # a role nobody can hold
        "g, app-a, admin, ville-a",  # a role given in the grants file
    ],
)
def test_a_grants_file_grants_roles_only(tmp_path: Path, line: str) -> None:
    path = tmp_path / "grants.csv"
    path.write_text("p, application, *, decision.propose\n" + line + "\n", encoding="utf-8")
    with pytest.raises(GrantsFileError) as refused:
        Authorizer([], path)
    assert str(path) in str(refused.value) and "line 2" in str(refused.value)
