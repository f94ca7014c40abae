"""A mistake in the OpenID Connect file stops `aval serve` with the file, the line and the fix,
before any provider is asked anything. (A provider that is down does not stop the start: the
package's shared server trusts one, `down_issuer`.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support import serve_refused

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
    stderr = serve_refused(new_database(), tmp_path / "config", AVAL_OIDC_FILE=str(oidc))
    assert f"{oidc}:5: issuers.0.algorithms.0" in stderr, stderr
    assert "never none nor HS*" in stderr
