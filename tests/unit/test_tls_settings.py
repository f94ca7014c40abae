"""TLS settings are checked before anything listens: the server's files (readable, PEM, key of
the certificate, valid now), plaintext only on loopback; the client never sends a token in clear
beyond loopback unless told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aval.clients.cli.program import main
from aval.clients.sdk.transport import ChannelSettingsError, plan_channel
from aval.contract.addresses import is_loopback_address
from aval.service.runtime.tls import (
    TlsSettingsError,
    load_server_tls,
    require_safe_listen,
)
from aval.service.settings import Settings
from tests.throwaway_ca import ThrowawayCA

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA(tmp_path_factory.mktemp("ca"))


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def refused(**values: object) -> TlsSettingsError:
    with pytest.raises(TlsSettingsError) as error:
        load_server_tls(settings(**values), NOW)
    assert " — fix: " in str(error.value)
    return error.value


def test_a_valid_certificate_and_key_serve_tls_and_the_key_never_shows(ca: ThrowawayCA) -> None:
    server = ca.issue("server", "localhost", server=True)
    tls = load_server_tls(
        settings(
            tls_cert_file=server.cert_file,
            tls_key_file=server.key_file,
            tls_client_ca_file=ca.cert_file,
        ),
        NOW,
    )
    assert tls is not None and tls.client_ca == ca.cert_file.read_bytes()
    assert b"PRIVATE KEY" not in repr(tls).encode() and "PRIVATE" not in repr(tls)
    assert load_server_tls(settings(), NOW) is None


def test_bad_tls_files_stop_the_start_naming_the_setting_and_the_fix(
    ca: ThrowawayCA, tmp_path: Path
) -> None:
    server = ca.issue("server-ok", "localhost", server=True)
    other = ca.issue("server-other", "localhost", server=True)
    expired = ca.issue(
        "server-expired",
        "localhost",
        server=True,
        not_before=NOW - timedelta(days=3),
        not_after=NOW - timedelta(days=1),
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    secret_key = server.key_file.read_text()
    cases = {
        "AVAL_TLS_KEY_FILE": [
            {"tls_cert_file": server.cert_file},  # its pair missing
            {"tls_cert_file": server.cert_file, "tls_key_file": other.key_file},  # not its key
            {"tls_cert_file": server.cert_file, "tls_key_file": garbage},
        ],
        "AVAL_TLS_CERT_FILE": [
            {"tls_key_file": server.key_file},
            {"tls_cert_file": tmp_path / "absent.pem", "tls_key_file": server.key_file},
            {"tls_cert_file": garbage, "tls_key_file": server.key_file},
            {"tls_cert_file": server.key_file, "tls_key_file": server.key_file},
            {"tls_cert_file": expired.cert_file, "tls_key_file": expired.key_file},
        ],
        "AVAL_TLS_CLIENT_CA_FILE": [
            {"tls_client_ca_file": ca.cert_file},  # client certificates without TLS
            {
                "tls_cert_file": server.cert_file,
                "tls_key_file": server.key_file,
                "tls_client_ca_file": garbage,
            },
        ],
    }
    for setting, attempts in cases.items():
        for values in attempts:
            error = refused(**values)
            assert error.setting == setting, (values, error)
            assert secret_key.splitlines()[1] not in str(error)
    assert "expired on" in str(
        refused(tls_cert_file=expired.cert_file, tls_key_file=expired.key_file)
    )


def test_plaintext_listens_only_on_loopback_unless_allowed() -> None:
    for address in ("127.0.0.1:50051", "[::1]:50051", "localhost:50051", "unix:/run/aval"):
        assert is_loopback_address(address), address
        require_safe_listen(settings(listen=address), None)
    for address in ("0.0.0.0:50051", "[::]:50051", "10.0.0.7:50051", "aval.ville-a.fr:443"):
        assert not is_loopback_address(address), address
        with pytest.raises(TlsSettingsError, match="AVAL_ALLOW_PLAINTEXT=true"):
            require_safe_listen(settings(listen=address), None)
        require_safe_listen(settings(listen=address, allow_plaintext=True), None)


def test_the_client_uses_tls_beyond_loopback_and_never_sends_a_token_in_clear(
    ca: ThrowawayCA,
) -> None:
    assert not plan_channel("127.0.0.1:50051", "t").tls
    assert not is_loopback_address("10.0.0.7:50051")
    assert plan_channel("10.0.0.7:50051", "t").tls  # the system's roots
    assert plan_channel("127.0.0.1:50051", "t", ca_file=ca.cert_file).tls
    named = plan_channel("127.0.0.1:1", None, ca_file=ca.cert_file, server_name="aval.local")
    assert named.options == [("grpc.ssl_target_name_override", "aval.local")]
    with pytest.raises(ChannelSettingsError) as error:
        plan_channel("10.0.0.7:50051", "t", tls=False)
    assert error.value.reason == "PLAINTEXT_TOKEN" and "allow_plaintext" in str(error.value)
    assert not plan_channel("10.0.0.7:50051", "t", tls=False, allow_plaintext=True).tls
    assert not plan_channel("10.0.0.7:50051", None, tls=False).tls  # nothing secret to send
    for values, reason in [
        ({"tls": False, "ca_file": ca.cert_file}, "TLS_OPTIONS_WITHOUT_TLS"),
        ({"client_cert_file": ca.cert_file}, "CLIENT_CERT_WITHOUT_KEY"),
        ({"ca_file": "/nonexistent/ca.pem"}, "UNREADABLE_FILE"),
    ]:
        with pytest.raises(ChannelSettingsError) as error:
            plan_channel("127.0.0.1:1", "t", **values)  # type: ignore[arg-type]
        assert error.value.reason == reason


def test_the_cli_refuses_a_token_in_clear_beyond_loopback_in_french(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AVAL_ALLOW_PLAINTEXT", raising=False)
    status = main(["--address", "10.0.0.7:50051", "--token", "t", "--tls", "off", "queue", "list"])
    assert status == 1
    err = capsys.readouterr().err
    assert "le jeton circulerait en clair vers 10.0.0.7:50051" in err
    assert "AVAL_ALLOW_PLAINTEXT=true" in err
    status = main(["--address", "127.0.0.1:1", "--cert", "/x.pem", "queue", "list"])
    assert status == 1
    assert "--cert et --key" in capsys.readouterr().err


def test_one_rule_says_which_addresses_stay_on_this_machine() -> None:
    """The server, the door, the OpenID Connect checks, the test clock and the SDK share it."""
    for address in (
        "127.0.0.1",
        "127.9.9.9:1",
        "::1",
        "[::1]",
        "[::1]:50051",
        "ipv6:[::1]:50051",
        "dns:///localhost:50051",
        "LOCALHOST:1",
        "unix-abstract:aval",
    ):
        assert is_loopback_address(address), address
    for address in (
        "",
        "0.0.0.0:1",
        "::",
        "[::ffff:10.0.0.1]:1",
        "localhost.ville-a.fr:1",
        "127.0.0.1.nip.io:1",
        "[::1",
        "dns:///aval.ville-a.fr:443",
    ):
        assert not is_loopback_address(address), address
