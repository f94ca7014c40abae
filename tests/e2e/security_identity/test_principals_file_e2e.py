"""An ambiguous principals file stops the server; a principal named like a role holds only its own
grants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aval.service.identity import token_hash
from tests.support import ServerProcess, write_config

from .conftest import (
    ACTION_OF,
    GRANTS,
    ROLE_NAMED,
    VALID_REQUESTS,
    Caller,
    _methods,
    _principal,
    _tenant_paths,
    _with,
)

# Principals files that name one principal twice, the line (1-based) of the second naming, and
# what the refusal must say.
AMBIGUOUS_FILES = {
    "one id in two tenants": (
        "principals:\n"
        + _principal("app-a", "ville-a", ["application"])
        + _principal("sup-b", "ville-b", ["supervisor"])
        + _principal("app-a", "ville-b", ["application"]),
        10,
        ["'app-a'", "line 2", "unique"],
    ),
    "one id twice in one tenant": (
        "principals:\n"
        + _principal("sup-a", "ville-a", ["supervisor"])
        + _principal("sup-a", "ville-a", ["inspector"]),
        6,
        ["'sup-a'", "line 2", "unique"],
    ),
    "ids that differ only by case": (
        "principals:\n"
        + _principal("insp-a", "ville-a", ["inspector"])
        + _principal("INSP-A", "ville-b", ["inspector"]),
        6,
        ["'INSP-A'", "'insp-a'", "line 2"],
    ),
    "one token for two principals": (
        "principals:\n"
        + _principal("app-a", "ville-a", ["application"], token="shared")
        + _principal("app-b", "ville-b", ["application"], token="shared"),
        9,
        ["token_sha256", "line 5", "'app-a'"],
    ),
    "a key given twice in one principal": (
        "principals:\n"
        "  - id: app-a\n"
        "    tenant: ville-a\n"
        "    roles: [application]\n"
        "    tenant: ville-b\n"
        f"    token_sha256: {token_hash('t')}\n",
        5,
        ["tenant", "line 3"],
    ),
    "the server's own actor id": (
        "principals:\n" + _principal("aval", "ville-a", ["application"]),
        2,
        ["'aval'", "reserved"],
    ),
}


@pytest.mark.parametrize("case", sorted(AMBIGUOUS_FILES))
def test_an_ambiguous_principals_file_stops_the_server_naming_file_line_and_fix_I5(
    case: str, tmp_path: Path
) -> None:
    """Before anything else: the database named here does not even exist."""
    text, line, says = AMBIGUOUS_FILES[case]
    policy_dir, _ = write_config(tmp_path)
    principals = tmp_path / "ambiguous.yaml"
    principals.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "AVAL_DATABASE_URL": "postgresql://aval@127.0.0.1:1/nowhere",
        "AVAL_POLICY_DIR": str(policy_dir),
        "AVAL_PRINCIPALS_FILE": str(principals),
        "AVAL_DATA_DIR": str(tmp_path / "data"),
        "OTEL_TRACES_EXPORTER": "none",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it serves: the refusal this test wants did not happen
        process.kill()
        stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert done.returncode != 0, done.stdout
    assert "AVAL_ADDRESS" not in done.stdout
    assert f"{principals}:{line}:" in done.stderr, done.stderr
    assert "fix:" in done.stderr, done.stderr
    for words in says:
        assert words in done.stderr, (words, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("pid", sorted(ROLE_NAMED))
def test_a_principal_named_like_a_role_holds_only_its_own_grants_I5(
    pid: str, odd_server: ServerProcess
) -> None:
    """Grants are keyed by the principal's identity, which no role name can equal."""
    home, roles = ROLE_NAMED[pid]
    granted = set().union(*(GRANTS[r] for r in roles))
    caller = Caller(odd_server.address)
    try:
        wrong = []
        for method in _methods():
            if method.name not in ACTION_OF:  # names no tenant (WhoAmI: the caller's own)
                continue
            action = ACTION_OF[method.name]
            for path in _tenant_paths(method.input_type):
                for tenant in ("ville-a", "ville-b"):
                    value: Any = [tenant] if path[-1] == "tenants" else tenant
                    fields = _with(VALID_REQUESTS[method.name], path, value)
                    refusal = caller.refusal(method, fields, pid, tenant)
                    denied = refusal is not None and refusal.reason == "NOT_GRANTED"
                    allowed = any(a in granted for a in action.split("|"))
                    if denied == (tenant == home and allowed):
                        wrong.append((method.name, path, tenant, refusal))
        assert not wrong, wrong
    finally:
        caller.close()
