"""Reloading the principals file swaps who may call and what they may do together, or keeps the
old file whole when the new one is invalid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aval.service.errors import Unauthenticated
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Credentials, PrincipalsFileError, token_hash
from aval.service.runtime.principals_reload import reload_principals
from tests.in_process import deployment_running
from tests.support import principal_entries, token_of, write_config


def _bearer(principal: str) -> Credentials:
    return Credentials([("authorization", f"Bearer {token_of(principal)}")])


async def test_a_reload_lets_in_a_new_principal_with_its_grants_and_refuses_a_revoked_one(
    database_url: str, tmp_path: Path
) -> None:
    _, path = write_config(tmp_path)
    async with deployment_running(database_url, tmp_path) as deployment:
        authenticator = FileAuthenticator.from_file(path, clock=deployment.clock)
        deployment.authenticator = authenticator
        with pytest.raises(Unauthenticated):
            await deployment.authenticate(_bearer("app-new"))
        entries = principal_entries()
        for entry in entries:
            if entry["id"] == "app-a":
                entry["revoked"] = True
        entries.append(
            {
                "id": "app-new",
                "tenant": "ville-a",
                "roles": ["application"],
                "token_sha256": token_hash(token_of("app-new")),
            }
        )
        path.write_text(yaml.safe_dump({"principals": entries}), encoding="utf-8")
        assert "app-new" in [p.id for p in reload_principals(deployment, authenticator)]
        newcomer = await deployment.authenticate(_bearer("app-new"))
        assert deployment.authorizer.allowed(newcomer, "ville-a", "decision.propose")
        with pytest.raises(Unauthenticated) as refused:
            await deployment.authenticate(_bearer("app-a"))
        assert refused.value.reason == "CREDENTIAL_REVOKED"
        # An invalid file changes nothing: neither who may call nor the authorizer.
        authorizer = deployment.authorizer
        path.write_text("principals:\n  - id: [\n", encoding="utf-8")
        with pytest.raises(PrincipalsFileError):
            reload_principals(deployment, authenticator)
        assert deployment.authorizer is authorizer
        assert (await deployment.authenticate(_bearer("app-new"))).id == "app-new"
