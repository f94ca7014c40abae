"""TLS of the gRPC port: its certificate, key and client CA checked at start-up, the server's
credentials, and the rule that plaintext is served only on loopback unless asked for."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from aval.contract.addresses import is_loopback_address
from aval.service.settings import Settings

log = logging.getLogger("aval")

# A certificate (the server's, or a static token) expiring sooner than this is warned about at
# start-up, so that an operator renews it before callers are refused.
EXPIRY_WARNING = timedelta(days=14)


class TlsSettingsError(ValueError):
    """A TLS setting that cannot be used: which setting, what is wrong, and the fix."""

    def __init__(self, setting: str, message: str, fix: str) -> None:
        self.setting, self.fix = setting, fix
        super().__init__(f"{setting}: {message} — fix: {fix}")


@dataclass(frozen=True)
class ServerTls:
    """What the gRPC port serves TLS with: PEM bytes, checked (the key is never shown)."""

    certificate_chain: bytes = field(repr=False)
    private_key: bytes = field(repr=False)
    # Client certificates are required, and verified against these CAs, when set.
    client_ca: bytes | None = field(default=None, repr=False)
    # When the server's own certificate stops being valid.
    not_after: datetime | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """The gRPC server credentials: TLS, and mutual TLS when a client CA is set.

        grpcio's server credentials either require a client certificate (verified against the
        CA) or never ask for one: there is no "ask, but let in without". So with a client CA,
        every caller presents a certificate the CA issued; a caller may still send a bearer
        token beside it, which then says who it is.
        """
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsSettingsError(
            setting,
            f"cannot read {path}: {exc.strerror or exc}",
            f"point {setting} to a readable PEM file (check its path and permissions)",
        ) from exc


def _certificates(setting: str, path: Path) -> list[x509.Certificate]:
    data = _read(setting, path)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise TlsSettingsError(
            setting,
            f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            f"point {setting} to a certificate in PEM form (`openssl x509 -in cert.der "
            "-inform DER -out cert.pem` converts a DER one)",
        )
    return found


def _valid_now(setting: str, path: Path, certificate: x509.Certificate, now: datetime) -> None:
    if certificate.not_valid_after_utc <= now:
        raise TlsSettingsError(
            setting,
            f"the certificate of {path} ({certificate.subject.rfc4514_string()}) expired on "
            f"{certificate.not_valid_after_utc.isoformat()}",
            f"renew it and point {setting} to the new one",
        )
    if certificate.not_valid_before_utc > now:
        raise TlsSettingsError(
            setting,
            f"the certificate of {path} is valid only from "
            f"{certificate.not_valid_before_utc.isoformat()}",
            "check the clock of this machine, or use a certificate valid now",
        )


def _private_key(setting: str, path: Path) -> tuple[bytes, bytes]:
    """The key file's bytes and the DER of its public key; never shows the key itself."""
    data = _read(setting, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsSettingsError(
            setting,
            f"the private key of {path} is encrypted",
            "give an unencrypted PEM key readable by the server alone "
            "(`openssl pkey -in key.pem -out plain.pem`, mode 0600)",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        # The library's message may quote the file: say only what kind of problem it is.
        raise TlsSettingsError(
            setting,
            f"{path} holds no PEM private key the server can use",
            "point it to the PEM private key (-----BEGIN PRIVATE KEY-----) of the certificate",
        ) from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data, public


def load_server_tls(settings: Settings, now: datetime) -> ServerTls | None:
    """The TLS the settings ask for, every file checked; None when they ask for none.

    Raises:
        TlsSettingsError: a file is unreadable or not PEM, the key does not match the
            certificate, a certificate is expired or not yet valid, or a setting is missing
            its pair; the message names the setting and the fix.
    """
    cert_file, key_file = settings.tls_cert_file, settings.tls_key_file
    ca_file = settings.tls_client_ca_file
    if cert_file is None and key_file is None:
        if ca_file is not None:
            raise TlsSettingsError(
                "AVAL_TLS_CLIENT_CA_FILE",
                "client certificates need the server to serve TLS",
                "set AVAL_TLS_CERT_FILE and AVAL_TLS_KEY_FILE too",
            )
        return None
    if cert_file is None or key_file is None:
        missing = "AVAL_TLS_CERT_FILE" if cert_file is None else "AVAL_TLS_KEY_FILE"
        raise TlsSettingsError(
            missing,
            "TLS needs both a certificate and its private key",
            f"set {missing} too (or neither, to serve plaintext on loopback)",
        )
    chain = _certificates("AVAL_TLS_CERT_FILE", cert_file)
    leaf = chain[0]
    _valid_now("AVAL_TLS_CERT_FILE", cert_file, leaf, now)
    key, public = _private_key("AVAL_TLS_KEY_FILE", key_file)
    leaf_public = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != leaf_public:
        raise TlsSettingsError(
            "AVAL_TLS_KEY_FILE",
            f"the private key of {key_file} is not the key of the certificate {cert_file} "
            f"({leaf.subject.rfc4514_string()})",
            "give the key the certificate was issued for (the first certificate of "
            "AVAL_TLS_CERT_FILE must be the server's own, its chain after it)",
        )
    client_ca = None
    if ca_file is not None:
        authorities = _certificates("AVAL_TLS_CLIENT_CA_FILE", ca_file)
        for authority in authorities:
            _valid_now("AVAL_TLS_CLIENT_CA_FILE", ca_file, authority, now)
        client_ca = _read("AVAL_TLS_CLIENT_CA_FILE", ca_file)
    if leaf.not_valid_after_utc - now < EXPIRY_WARNING:
        log.warning(
            "the server's TLS certificate (%s) expires on %s: renew it (AVAL_TLS_CERT_FILE)",
            leaf.subject.rfc4514_string(),
            leaf.not_valid_after_utc.isoformat(),
        )
    return ServerTls(
        _read("AVAL_TLS_CERT_FILE", cert_file), key, client_ca, leaf.not_valid_after_utc
    )


def require_safe_listen(settings: Settings, tls: ServerTls | None) -> None:
    """Refuses to serve plaintext beyond loopback unless AVAL_ALLOW_PLAINTEXT says so.

    Bearer tokens travel in each call's metadata: in plaintext, anyone on the path reads them.

    Raises:
        TlsSettingsError: plaintext on a non-loopback address without AVAL_ALLOW_PLAINTEXT.
    """
    if tls is not None or is_loopback_address(settings.listen):
        return
    if settings.allow_plaintext:
        log.warning(
            "PLAINTEXT on %s (AVAL_ALLOW_PLAINTEXT=true): tokens travel in clear; only behind "
            "a proxy or mesh that terminates TLS",
            settings.listen,
        )
        return
    raise TlsSettingsError(
        "AVAL_LISTEN",
        f"{settings.listen} is not a loopback address and no TLS certificate is set: bearer "
        "tokens would travel in clear",
        "set AVAL_TLS_CERT_FILE and AVAL_TLS_KEY_FILE, or AVAL_ALLOW_PLAINTEXT=true when a "
        "proxy or service mesh in front terminates TLS, or listen on 127.0.0.1",
    )
