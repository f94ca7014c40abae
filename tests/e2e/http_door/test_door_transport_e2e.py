"""The door's transport: plaintext only on loopback, TLS with the operator's certificate, and
start-up refusals that name the fix."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import struct
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import ServerProcess, serve_refused, token_of

pytestmark = pytest.mark.e2e


def test_plaintext_beyond_loopback_is_refused(database_url: str, tmp_path: Path) -> None:
    stderr = serve_refused(database_url, tmp_path, AVAL_HTTP_LISTEN="0.0.0.0:0")
    assert "AVAL_TLS_CERT_FILE" in stderr and "AVAL_ALLOW_PLAINTEXT" in stderr


@pytest.mark.parametrize(
    "settings",
    [
        {"AVAL_HTTP_LISTEN": "localhost"},
        {"AVAL_HTTP_LISTEN": "127.0.0.1:99999"},
        {"AVAL_HTTP_LISTEN": "127.0.0.1:0", "AVAL_TLS_CERT_FILE": "/nonexistent.pem"},
    ],
)
def test_bad_door_settings_stop_the_start_naming_the_fix(
    database_url: str, tmp_path: Path, settings: dict[str, str]
) -> None:
    stderr = serve_refused(database_url, tmp_path, **settings)
    assert "AVAL_HTTP_LISTEN" in stderr or "AVAL_TLS" in stderr, stderr


def write_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "door.crt", folder / "door.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_door_speaks_tls_with_the_operators_certificate(
    database_url: str, tmp_path: Path
) -> None:
    cert_file, key_file = write_certificate(tmp_path)
    server = ServerProcess.start(
        database_url,
        tmp_path,
        name="door-tls",
        extra_env={
            "AVAL_HTTP_LISTEN": "127.0.0.1:0",
            "AVAL_TLS_CERT_FILE": str(cert_file),
            "AVAL_TLS_KEY_FILE": str(key_file),
        },
    )
    try:
        port = int(server.read_exports(1)["AVAL_HTTP_ADDRESS"].rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(cert_file))
        connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=20)
        connection.request(
            "POST",
            "/aval.v1.Review/ListQueue",
            body=b"{}",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token_of('sup-a1')}",
            },
        )
        answer = connection.getresponse()
        assert answer.status == 200 and "decisions" in json.loads(answer.read())
        connection.close()
        # Plain HTTP on the TLS port gets no answer.
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/healthz")
            plain.getresponse().read()
        plain.close()
    finally:
        assert server.stop() == 0, server.log_path.read_text()


def test_a_stopping_server_ends_open_door_streams_with_an_end_message(
    database_url: str, tmp_path: Path
) -> None:
    """SIGTERM with a watch open over HTTP: the watcher reads an end-of-stream envelope (the
    gRPC server's UNAVAILABLE), the process exits 0 within its grace, its log holds no trace."""
    server = ServerProcess.start(
        database_url, tmp_path, name="door-stop", extra_env={"AVAL_HTTP_LISTEN": "127.0.0.1:0"}
    )
    host, port = server.read_exports(1)["AVAL_HTTP_ADDRESS"].rsplit(":", 1)
    propose = http.client.HTTPConnection(host, int(port), timeout=20)
    body = {
        "decisionType": "voirie.signalement",
        "subjectRef": "usager:1",
        "input": {"a": 1},
        "idempotencyKey": str(uuid.uuid4()),
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token_of('app-a')}"}
    propose.request("POST", "/aval.v1.Gateway/Propose", json.dumps(body), headers)
    decision_id = json.loads(propose.getresponse().read())["decision"]["id"]
    propose.close()

    payload = json.dumps({"decisionId": decision_id}).encode()
    watch = http.client.HTTPConnection(host, int(port), timeout=20)
    watch.request(
        "POST",
        "/aval.v1.Gateway/WatchDecision",
        b"\x00" + struct.pack(">I", len(payload)) + payload,
        {**headers, "Content-Type": "application/connect+json"},
    )
    answer = watch.getresponse()
    assert answer.status == 200
    first = answer.read(5)
    assert first[0] == 0  # the decision as it is now
    answer.read(struct.unpack(">I", first[1:5])[0])
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    rest = answer.read()
    assert rest[0] == 0x02, rest
    end = json.loads(rest[5:])
    assert end["error"]["code"] in ("unavailable", "canceled")
    watch.close()
    assert "Traceback" not in server.log_path.read_text()
