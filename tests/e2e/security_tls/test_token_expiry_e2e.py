"""Static tokens of the principals file expire on the deployment's clock and can be revoked;
each refusal is UNAUTHENTICATED with a reason naming the date and the fix, and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aval.clients.sdk.errors import UnauthenticatedError
from tests.support import ClockFile, ServerProcess

from .conftest import EXPIRY, Pki, mtls_client


def _propose(client: object) -> None:
    client.propose(  # type: ignore[attr-defined]
        decision_type="voirie.signalement",
        subject_ref="usager:expiry",
        input={"motif": "banc"},
        suggestion={"service": "voirie"},
    )


def _events(server: ServerProcess, pki: Pki) -> int:
    with mtls_client(server, pki, pki.unmapped, "insp-a") as inspector:
        return len(inspector.query_events(page_size=1000).events)


def test_a_revoked_token_is_refused(mtls_server: ServerProcess, pki: Pki) -> None:
    before = _events(mtls_server, pki)
    revoked = mtls_client(mtls_server, pki, pki.unmapped, "app-revoked")
    with revoked, pytest.raises(UnauthenticatedError) as refused:
        _propose(revoked)
    assert refused.value.reason == "CREDENTIAL_REVOKED"
    assert "revoked: true" in refused.value.message
    assert _events(mtls_server, pki) == before


def test_a_token_expires_on_the_deployments_clock(
    mtls_server: ServerProcess, pki: Pki, clock: ClockFile
) -> None:
    with mtls_client(mtls_server, pki, pki.unmapped, "app-expiring") as expiring:
        _propose(expiring)
        clock.advance_to(EXPIRY + timedelta(minutes=1))
        before = _events(mtls_server, pki)
        with pytest.raises(UnauthenticatedError) as refused:
            _propose(expiring)
    assert refused.value.reason == "CREDENTIAL_EXPIRED"
    assert EXPIRY.strftime("%Y-%m-%dT%H:%M") in refused.value.message
    assert "expires_at" in refused.value.message and "a expiré le" in refused.value.localized
    assert _events(mtls_server, pki) == before
