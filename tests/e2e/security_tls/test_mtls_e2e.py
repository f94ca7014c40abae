"""Mutual TLS: a client certificate the CA issued and the principals file names acts as its
principal; an unknown one is UNAUTHENTICATED; an expired, foreign or missing one never gets
past the handshake."""

from __future__ import annotations

import grpc
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import UnauthenticatedError, UnavailableError
from tests.support import ServerProcess

from .conftest import Pki, mtls_client

SUGGESTION = {"service": "voirie"}


def _propose(client: Client) -> str:
    done = client.propose(
        decision_type="voirie.signalement",
        subject_ref="usager:mtls",
        input={"motif": "trottoir"},
        suggestion=SUGGESTION,
    )
    return str(done.decision.id)


@pytest.mark.parametrize(
    ("which", "principal"), [("by_subject", "app-cert"), ("by_print", "app-pinned")]
)
def test_a_mapped_certificate_acts_as_its_principal_in_the_trail(
    mtls_server: ServerProcess, pki: Pki, which: str, principal: str
) -> None:
    with mtls_client(mtls_server, pki, getattr(pki, which)) as application:
        decision = _propose(application)
    # A token beside a certificate says who calls: the inspector's, on an unmapped certificate.
    with mtls_client(mtls_server, pki, pki.unmapped, "insp-a") as inspector:
        events = inspector.query_events(decision_id=decision).events
    assert [(e.kind, e.actor_id) for e in events] == [("decision.proposed", principal)]


def test_an_unknown_certificate_is_unauthenticated_naming_the_fix(
    mtls_server: ServerProcess, pki: Pki
) -> None:
    stranger = mtls_client(mtls_server, pki, pki.unmapped)
    with stranger, pytest.raises(UnauthenticatedError) as refused:
        _propose(stranger)
    assert refused.value.reason == "UNKNOWN_CERTIFICATE"
    assert pki.unmapped.subject in refused.value.message
    assert "fichier des mandants" in refused.value.localized


@pytest.mark.parametrize("which", ["expired", "foreign", None])
def test_an_expired_foreign_or_missing_certificate_is_refused_by_the_handshake(
    mtls_server: ServerProcess, pki: Pki, which: str | None
) -> None:
    """The client sees UNAVAILABLE (the server closes the connection during the handshake):
    no call is made, no token is read."""
    if which is None:
        client = Client(mtls_server.address, None, timeout=5, ca_file=pki.ca.cert_file)
    else:
        client = mtls_client(mtls_server, pki, getattr(pki, which))
    with client, pytest.raises(UnavailableError) as refused:
        _propose(client)
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
