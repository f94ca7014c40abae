"""Mutual TLS: a client certificate the CA issued and the principals file names acts as its
principal; an unknown one is UNAUTHENTICATED; an expired, foreign or missing one never gets
past the handshake."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest

from aval.clients import AsyncClient, Client
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


def test_the_cli_calls_with_a_client_certificate_and_no_token(
    mtls_server: ServerProcess, pki: Pki
) -> None:
    with mtls_client(mtls_server, pki, pki.by_subject) as application:
        decision = _propose(application)
    done = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", "decision", "show", decision, "--json"],
        env={
            **{k: v for k, v in os.environ.items() if k != "AVAL_TOKEN"},
            "AVAL_ADDRESS": mtls_server.address,
            "AVAL_CA_FILE": str(pki.ca.cert_file),
            "AVAL_CLIENT_CERT_FILE": str(pki.by_subject.cert_file),
            "AVAL_CLIENT_KEY_FILE": str(pki.by_subject.key_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == decision


async def test_the_async_client_speaks_mutual_tls(mtls_server: ServerProcess, pki: Pki) -> None:
    async with AsyncClient(
        mtls_server.address,
        None,
        timeout=20,
        ca_file=pki.ca.cert_file,
        client_cert_file=pki.by_print.cert_file,
        client_key_file=pki.by_print.key_file,
    ) as application:
        done = await application.propose(
            decision_type="voirie.signalement",
            subject_ref="usager:async",
            input={"motif": "feu"},
            suggestion=SUGGESTION,
        )
    assert done.decision.id
