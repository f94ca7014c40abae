"""The gRPC port serves TLS when given a certificate; plaintext clients fail clearly, the CLI
speaks TLS with --ca-file, and plaintext beyond loopback needs AVAL_ALLOW_PLAINTEXT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import UnavailableError
from tests.support import ServerProcess, token_of, write_config

from .conftest import Pki, tls_env

SUGGESTION = {"service": "voirie"}


def _propose(client: Client) -> str:
    done = client.propose(
        decision_type="voirie.signalement",
        subject_ref="usager:tls",
        input={"motif": "lampadaire"},
        suggestion=SUGGESTION,
    )
    return str(done.decision.id)


def test_a_token_over_tls_is_served(tls_server: ServerProcess, pki: Pki) -> None:
    with Client(tls_server.address, token_of("app-a"), timeout=20, ca_file=pki.ca.cert_file) as c:
        decision = _propose(c)
        assert c.get_decision(decision).id == decision


def test_a_plaintext_client_of_a_tls_server_fails_clearly_and_sends_nothing(
    tls_server: ServerProcess, pki: Pki
) -> None:
    """The handshake fails before any call: the token never leaves the client in clear."""
    plain = Client(tls_server.address, token_of("app-a"), timeout=5, tls=False)
    with plain, pytest.raises(UnavailableError) as refused:
        _propose(plain)
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    # A TLS client that does not trust the server's CA (the system's roots only) fails too.
    untrusting = Client(tls_server.address, token_of("app-a"), timeout=5, tls=True)
    with untrusting, pytest.raises(UnavailableError):
        _propose(untrusting)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_speaks_tls_with_its_ca_file(tls_server: ServerProcess, pki: Pki) -> None:
    env = {"AVAL_ADDRESS": tls_server.address, "AVAL_TOKEN": token_of("sup-a1")}
    done = _cli("--ca-file", str(pki.ca.cert_file), "queue", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    done = _cli("queue", "list", env={**env, "AVAL_CA_FILE": str(pki.ca.cert_file)})
    assert done.returncode == 0, done.stderr
    # Without TLS, the command line says what to do.
    done = _cli("--tls", "off", "queue", "list", env=env)
    assert done.returncode == 1
    assert "injoignable" in done.stderr and "--ca-file" in done.stderr, done.stderr


def _refused_start(tmp_path: Path, listen: str, env: dict[str, str]) -> str:
    """The standard error of a server that must refuse to start (before any database)."""
    policy_dir, principals = write_config(tmp_path)
    process = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", listen],
        env={
            **os.environ,
            "AVAL_DATABASE_URL": "postgresql://aval@127.0.0.1:1/nowhere",
            "AVAL_POLICY_DIR": str(policy_dir),
            "AVAL_PRINCIPALS_FILE": str(principals),
            "AVAL_DATA_DIR": str(tmp_path / "data"),
            "OTEL_TRACES_EXPORTER": "none",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2, process.stdout
    assert "AVAL_ADDRESS" not in process.stdout
    assert "Traceback" not in process.stderr, process.stderr
    return process.stderr


def test_plaintext_beyond_loopback_refuses_to_start_naming_the_fix(tmp_path: Path) -> None:
    said = _refused_start(tmp_path, "0.0.0.0:0", {"AVAL_ALLOW_PLAINTEXT": "false"})
    assert "0.0.0.0:0 is not a loopback address" in said, said
    assert "AVAL_TLS_CERT_FILE" in said and "AVAL_ALLOW_PLAINTEXT=true" in said, said


def test_a_key_of_another_certificate_refuses_to_start(tmp_path: Path, pki: Pki) -> None:
    env = {**tls_env(pki, client_ca=True), "AVAL_TLS_KEY_FILE": str(pki.unmapped.key_file)}
    said = _refused_start(tmp_path, "127.0.0.1:0", env)
    assert "AVAL_TLS_KEY_FILE" in said and "is not the key of the certificate" in said, said
    assert pki.unmapped.key_file.read_text().splitlines()[1] not in said


def test_plaintext_beyond_loopback_starts_when_explicitly_allowed(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess.start(
        database_url,
        tmp_path,
        name="plaintext",
        listen="0.0.0.0:0",
        extra_env={"AVAL_ALLOW_PLAINTEXT": "true"},
    )
    try:
        port = server.address.rsplit(":", 1)[1]
        with Client(f"127.0.0.1:{port}", token_of("app-a"), timeout=20) as client:
            assert _propose(client)
        assert "PLAINTEXT on 0.0.0.0:0" in server.log_path.read_text()
    finally:
        assert server.stop() == 0, server.log_path.read_text()


def test_every_worker_serves_mutual_tls(database_url: str, tmp_path: Path, pki: Pki) -> None:
    """`--workers 2`: each process serves the port with the same TLS, client CA included."""
    server = ServerProcess.start(
        database_url,
        tmp_path,
        name="tls-workers",
        extra_env={"AVAL_WORKERS": "2", **tls_env(pki, client_ca=True)},
    )
    try:
        for _ in range(4):  # new connections, spread by the kernel among the workers
            client = Client(
                server.address,
                token_of("app-a"),
                timeout=20,
                ca_file=pki.ca.cert_file,
                client_cert_file=pki.unmapped.cert_file,
                client_key_file=pki.unmapped.key_file,
            )
            with client:
                assert _propose(client)
            plain = Client(server.address, token_of("app-a"), timeout=5, ca_file=pki.ca.cert_file)
            with plain, pytest.raises(UnavailableError):  # no client certificate
                _propose(plain)
        assert server.log_path.read_text().count("mutual TLS") == 2
    finally:
        assert server.stop() == 0, server.log_path.read_text()
