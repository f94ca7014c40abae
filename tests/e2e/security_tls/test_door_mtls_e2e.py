"""With mutual TLS on, the HTTP/JSON door asks its callers for a certificate of the client CA
too, so that it is no way around it; a certificate alone does not sign in there (it is not
forwarded to the gateway): the door's callers also send a token."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterator

import pytest

from tests.support import ServerProcess, token_of
from tests.throwaway_ca import Issued

from .conftest import Pki, _principals, tls_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def door_address(
    new_database: Callable[..., str], pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mtls-door")
    env = {
        "AVAL_PRINCIPALS_FILE": str(_principals(pki, folder)),
        "AVAL_HTTP_LISTEN": "127.0.0.1:0",
        **tls_env(pki, client_ca=True),
    }
    process = ServerProcess.start(new_database(), folder, name="mtls-door", extra_env=env)
    yield process.read_exports(1)["AVAL_HTTP_ADDRESS"]
    assert process.stop() == 0, process.log_path.read_text()


def _list_queue(address: str, pki: Pki, certificate: Issued | None, token: str | None) -> int:
    """ListQueue over HTTPS, presenting `certificate` when given; the HTTP status."""
    context = ssl.create_default_context(cafile=str(pki.ca.cert_file))
    context.check_hostname = False
    if certificate is not None:
        context.load_cert_chain(str(certificate.cert_file), str(certificate.key_file))
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=20)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/aval.v1.Review/ListQueue", json.dumps({}), headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_door_refuses_a_caller_without_a_certificate_of_the_client_ca(
    door_address: str, pki: Pki
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _list_queue(door_address, pki, None, token_of("sup-a1"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _list_queue(door_address, pki, pki.foreign, token_of("sup-a1"))


def test_a_certificate_of_the_client_ca_and_a_token_are_let_in(door_address: str, pki: Pki) -> None:
    assert _list_queue(door_address, pki, pki.by_subject, token_of("sup-a1")) == 200
    # The certificate proves the connection, not the caller: without a token, 401.
    assert _list_queue(door_address, pki, pki.by_subject, None) == 401
