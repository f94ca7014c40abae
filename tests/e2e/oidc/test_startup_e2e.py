"""A mistake in the OpenID Connect file stops `aval serve` with the file, the line and the fix,
before any provider is asked anything. (A provider that is down does not stop the start: the
package's shared server trusts one, `down_issuer`.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support import write_config

BAD = """\
issuers:
  - name: idp
    issuer: https://sso.example.fr/realms/agents
    audience: urn:aval:test
    algorithms: [HS256]
tenants:
  ville-a:
    issuer: idp
    roles: {aval-superviseurs: [supervisor]}
"""


def test_a_mistake_in_the_oidc_file_stops_the_start_with_the_line_and_the_fix(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    oidc = tmp_path / "oidc.yaml"
    oidc.write_text(BAD, encoding="utf-8")
    policy_dir, principals = write_config(tmp_path / "config")
    env = {
        **os.environ,
        "AVAL_DATABASE_URL": new_database(),
        "AVAL_POLICY_DIR": str(policy_dir),
        "AVAL_PRINCIPALS_FILE": str(principals),
        "AVAL_DATA_DIR": str(tmp_path / "data"),
        "AVAL_OIDC_FILE": str(oidc),
    }
    done = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{oidc}:5: issuers.0.algorithms.0" in done.stderr, done.stderr
    assert "never none nor HS*" in done.stderr
