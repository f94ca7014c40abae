"""The AI egress file (AVAL_AI_EGRESS_FILE): a mistake names the file, the line, the field and
the fix, as a review policy's does (issue 10, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aval.policies import PolicyError
from aval.service.ai.egress import EgressRefused
from aval.service.ai.egress_file import load_egress, load_egress_file

TENANTS = {"ville-a", "ville-b"}


@pytest.mark.parametrize(
    ("text", "line", "field", "fix"),
    [
        ("tenants:\n  ville-z:\n    endpoints: []\n", 2, "tenants.ville-z", "tenant"),
        ("tenants:\n  '*':\n    secrets:\n      k: AVAL_X\n", 3, "tenants.*.secrets", "one tenant"),
        (
            "tenants:\n  ville-a:\n    secrets:\n      db: AVAL_DATABASE_URL\n",
            4,
            "tenants.ville-a.secrets.db",
            "variable of its own",
        ),
        (
            "tenants:\n  ville-a:\n    secrets:\n      k: AVAL_SIGNING_KEY\n",
            4,
            "tenants.ville-a.secrets.k",
            "variable of its own",
        ),
        (
            "tenants:\n  ville-a:\n    secrets:\n      k: 'sk-live 123'\n",
            4,
            "tenants.ville-a.secrets.k",
            "environment variable",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n      - host: 127.0.0.1\n",
            4,
            "tenants.ville-a.endpoints.0.host",
            "network: 127.0.0.1/32",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n      - host: '2130706433'\n",
            4,
            "tenants.ville-a.endpoints.0.host",
            "DNS host name",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n      - network: 10.0.0.5/8\n",
            4,
            "tenants.ville-a.endpoints.0.network",
            "10.0.0.0/8",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n      - network: intranet\n",
            4,
            "tenants.ville-a.endpoints.0.network",
            "CIDR",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n      - network: 10.0.0.0/8\n"
            "        ports: [0]\n",
            5,
            "tenants.ville-a.endpoints.0.ports.0",
            "1 to 65535",
        ),
        (
            "tenants:\n  ville-a:\n    endpoints:\n"
            "      - {host: a.example, network: 10.0.0.0/8}\n",
            4,
            "tenants.ville-a.endpoints.0",
            "one of the two",
        ),
        ("tenants:\n  ville-a:\n    endpoint: []\n", 3, "tenants.ville-a.endpoint", "spelling"),
        ("tenants: [\n", 2, "(syntax)", "YAML syntax"),
    ],
)
def test_a_mistake_names_the_line_the_field_and_the_fix(
    tmp_path: Path, text: str, line: int, field: str, fix: str
) -> None:
    path = tmp_path / "ai-egress.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_egress_file(path, TENANTS)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert fix in error.fix, error


def test_an_unreadable_file_says_which_setting_to_mend(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_egress_file(tmp_path / "absent.yaml", TENANTS)
    assert "AVAL_AI_EGRESS_FILE" in caught.value.fix


async def test_a_good_file_allows_what_it_says_and_no_setting_allows_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ai-egress.yaml"
    path.write_text(
        "tenants:\n"
        "  ville-a:\n"
        "    secrets: {albert: ALBERT_KEY}\n"
        "    endpoints:\n"
        "      - {host: Albert.Example, ports: [443]}\n"
        "  '*':\n"
        "    endpoints:\n"
        "      - {network: 127.0.0.1}\n",
        encoding="utf-8",
    )
    egress = load_egress(path, TENANTS)
    assert egress.configured and egress.secret_names("ville-a") == ["albert"]
    assert egress.secret_names("ville-b") == []
    assert await egress.addresses("ville-a", "albert.example", 443) == ("albert.example",)
    assert await egress.addresses("ville-b", "127.0.0.1", 9) == ("127.0.0.1",)
    assert not load_egress(None, TENANTS).configured
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_egress(empty, TENANTS).secret_names("ville-a") == []


async def test_the_demo_adds_its_own_advisor_to_the_operators_file(tmp_path: Path) -> None:
    from aval.service.runtime.demo_ai import write_demo_egress

    base = tmp_path / "operator.yaml"
    base.write_text(
        "tenants:\n  ville-demo:\n    secrets: {albert: ALBERT_KEY}\n", encoding="utf-8"
    )
    for operator in (None, base):
        path = write_demo_egress(tmp_path / "data", "127.0.0.1:50999", operator)
        egress = load_egress(path, {"ville-demo"})
        assert await egress.addresses("ville-demo", "127.0.0.1", 50999) == ("127.0.0.1",)
        with pytest.raises(EgressRefused):
            await egress.addresses("ville-demo", "127.0.0.1", 50998)
    assert egress.secret_names("ville-demo") == ["albert"]
