"""The principals file names each principal once in the deployment, or says where not (I5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import (
    Principal,
    PrincipalKey,
    PrincipalsFileError,
    load_principals,
    token_hash,
)
from tests.support import PRINCIPALS, write_config


def entry(pid: str, tenant: str, roles: str = "[application]", token: str = "") -> str:
    return (
        f"  - id: {pid}\n"
        f"    tenant: {tenant}\n"
        f"    roles: {roles}\n"
        f"    token_sha256: {token_hash(token or f'{pid}@{tenant}')}\n"
    )


def refusal(tmp_path: Path, text: str) -> PrincipalsFileError:
    path = tmp_path / "principals.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PrincipalsFileError) as refused:
        load_principals(path)
    assert str(refused.value).startswith(f"{path}:"), refused.value
    assert " — fix: " in str(refused.value)
    return refused.value


def test_the_tests_principals_load_and_keep_their_grants(tmp_path: Path) -> None:
    _, path = write_config(tmp_path)
    loaded = {p.id: p for p, _ in load_principals(path)}
    assert set(loaded) == set(PRINCIPALS)
    assert loaded["insp-pool"].roles_in("ville-a") == {"inspector"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("app-a", "ville-a"), ("app-a", "ville-b")),  # one id in two tenants
        (("sup-a", "ville-a"), ("sup-a", "ville-a")),  # one id twice in one tenant
        (("insp-a", "ville-a"), ("INSP-A", "ville-b")),  # case aside, the same id
        (("agent", "ville-a"), ("ａｇｅｎｔ", "ville-b")),  # full-width: the same id once NFKC'd
    ],
)
def test_an_id_used_twice_is_refused_at_the_line_of_the_second_I5(
    tmp_path: Path, first: tuple[str, str], second: tuple[str, str]
) -> None:
    text = "principals:\n" + entry(*first) + entry("other", "ville-c") + entry(*second)
    error = refusal(tmp_path, text)
    assert error.line == 10 and error.field == "principals.2.id"
    assert f"{second[0]!r}" in error.message and "line 2" in error.message
    assert f"tenant {first[1]}" in error.message and "unique" in error.message
    assert "another id" in error.fix and "grants:" in error.fix


def test_a_token_shared_by_two_principals_is_refused_I5(tmp_path: Path) -> None:
    text = "principals:\n" + entry("a", "ville-a", token="t") + entry("b", "ville-b", token="t")
    error = refusal(tmp_path, text)
    assert (error.line, error.field) == (9, "principals.1.token_sha256")
    assert "'a'" in error.message and "line 5" in error.message


def test_a_key_given_twice_in_one_entry_is_refused(tmp_path: Path) -> None:
    text = "principals:\n" + entry("a", "ville-a") + "    tenant: ville-b\n"
    error = refusal(tmp_path, text)
    assert (error.line, error.field) == (6, "principals.0.tenant")
    assert "line 3" in error.message


@pytest.mark.parametrize("pid", ["aval", "AVAL"])
def test_the_servers_own_actor_id_is_reserved(tmp_path: Path, pid: str) -> None:
    error = refusal(tmp_path, "principals:\n" + entry(pid, "ville-a"))
    assert (error.line, error.field) == (2, "principals.0.id") and "reserved" in error.message


@pytest.mark.parametrize("pid", ['"app\\u200b"', '" app"', '"app\\x1b[2J"', '"a\\tb"'])
def test_an_id_must_be_visible_text(tmp_path: Path, pid: str) -> None:
    error = refusal(tmp_path, "principals:\n" + entry(pid, "ville-a"))
    assert (error.line, error.field) == (2, "principals.0.id") and "printable" in error.message


def test_every_refusal_names_its_line(tmp_path: Path) -> None:
    cases = {
        "principals:\n" + entry("a", "ville-a", roles="[maire]"): (4, "principals.0.roles"),
        "principals:\n" + entry("a", "ville-a").replace("token_sha256: ", "token_sha256: x"): (
            5,
            "principals.0.token_sha256",
        ),
        "principals:\n" + entry("a", "ville-a") + "    colour: blue\n": (
            6,
            "principals.0.colour",
        ),
        "principals:\n  - id: [\n": (3, "(syntax)"),
    }
    for text, (line, field) in cases.items():
        error = refusal(tmp_path, text)
        assert (error.line, error.field) == (line, field), (text, error)


def test_the_authenticator_refuses_two_principals_with_one_id_I5() -> None:
    a = Principal("app", "ville-a", {"ville-a": frozenset({"application"})})
    b = Principal("app", "ville-b", {"ville-b": frozenset({"application"})})
    with pytest.raises(ValueError, match="id and credentials of its own"):
        FileAuthenticator.of_tokens([(a, "1" * 64), (b, "2" * 64)])
    with pytest.raises(ValueError, match="id and credentials of its own"):
        FileAuthenticator.of_tokens([(a, "1" * 64), (Principal("c", "ville-a"), "1" * 64)])


def test_keys_tell_apart_what_ids_alone_do_not_I5() -> None:
    """The key is injective whatever the parts hold, and never a role name."""
    principals = [
        Principal("app-a", "ville-a"),
        Principal("app-a", "ville-b"),
        Principal("b/app-a", "ville-a"),
        Principal("app-a", "ville-a/b"),
        Principal('a","b', "ville-a"),
        Principal("a", '","b'),
        Principal("admin", "ville-a"),
    ]
    keys = {p.key for p in principals}
    texts = {str(p.key) for p in principals}
    assert len(keys) == len(texts) == len(principals)
    assert not texts & {"application", "supervisor", "inspector", "admin"}
    assert Principal("x", "ville-a").key == PrincipalKey("file", "ville-a", "x")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (
            "policy",
            "tenant: ville-a\ndecision_types:\n  t:\n    purpose: p\n    required_approvals: 1\n"
            "    required_approvals: 0\n    deadline: 1d\n",
        ),
        (
            "egress",
            "tenants:\n  ville-a:\n    secrets: {}\n    secrets: {k: V}\n",
        ),
        (
            "oidc",
            "issuers:\n  - name: a\n    issuer: http://127.0.0.1:1\n    audience: x\n"
            "    audience: y\ntenants: {}\n",
        ),
    ],
)
def test_every_configuration_file_refuses_a_key_given_twice(
    tmp_path: Path, kind: str, text: str
) -> None:
    """YAML keeps the last of two equal keys without a word: each file the operator writes
    refuses it, naming the line (principals: test_a_key_given_twice… above)."""
    from aval.policies import PolicyError, load_policy_dir
    from aval.service.ai.egress_file import load_egress_file
    from aval.service.oidc.config import load_oidc_file

    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        if kind == "policy":
            load_policy_dir(tmp_path)
        elif kind == "egress":
            load_egress_file(path, ["ville-a"])
        else:
            load_oidc_file(path, ["ville-a"])
    assert "given twice" in str(refused.value)
    assert refused.value.line is not None and refused.value.line > 1
