"""How a client reaches the gateway: TLS (with a CA bundle and a client certificate) or
plaintext, and the rule that a token never travels in clear beyond loopback unless asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import grpc

from aval.contract.addresses import is_loopback_address


class ChannelSettingsError(ValueError):
    """Connection settings the client refuses before sending anything: a reason (for the
    command line's texts), its parameters, and an English message naming the fix."""

    def __init__(self, reason: str, message: str, **params: str) -> None:
        self.reason, self.params = reason, params
        super().__init__(message)


def _read(path: str | Path, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ChannelSettingsError(
            "UNREADABLE_FILE",
            f"{option}: cannot read {path} ({exc.strerror or exc}): check the path and its "
            "permissions",
            option=option,
            path=str(path),
        ) from exc


class Transport(TypedDict, total=False):
    """The TLS options of a client (see `plan_channel`)."""

    tls: bool | None
    ca_file: str | Path | None
    client_cert_file: str | Path | None
    client_key_file: str | Path | None
    server_name: str | None
    allow_plaintext: bool


@dataclass(frozen=True)
class ChannelPlan:
    """The channel to open: its credentials (None: plaintext) and its options."""

    credentials: grpc.ChannelCredentials | None
    options: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def tls(self) -> bool:
        return self.credentials is not None


def plan_channel(
    address: str,
    token: str | None,
    *,
    tls: bool | None = None,
    ca_file: str | Path | None = None,
    client_cert_file: str | Path | None = None,
    client_key_file: str | Path | None = None,
    server_name: str | None = None,
    channel_credentials: grpc.ChannelCredentials | None = None,
    allow_plaintext: bool = False,
) -> ChannelPlan:
    """Decides how to reach `address`.

    TLS when asked (``tls=True``), when any TLS option is given, or when the address is not
    loopback; plaintext only for a loopback address without TLS options, or when
    ``tls=False``. A token is never sent in clear to an address beyond loopback unless
    ``allow_plaintext`` says a proxy or tunnel protects it. Without ``ca_file``, TLS trusts the
    system's roots.

    Raises:
        ChannelSettingsError: the settings contradict each other, a file cannot be read, or a
            token would travel in clear beyond loopback.
    """
    tls_options = {
        "ca_file": ca_file,
        "client_cert_file": client_cert_file,
        "client_key_file": client_key_file,
        "server_name": server_name,
    }
    given = [name for name, value in tls_options.items() if value]
    if tls is False and (given or channel_credentials is not None):
        raise ChannelSettingsError(
            "TLS_OPTIONS_WITHOUT_TLS",
            f"tls=False but {', '.join(given) or 'channel_credentials'} given: drop them, "
            "or let the client use TLS",
            options=", ".join(given) or "channel_credentials",
        )
    if channel_credentials is not None and given:
        raise ChannelSettingsError(
            "TLS_OPTIONS_TWICE",
            f"channel_credentials and {', '.join(given)} both given: pass one or the other",
            options=", ".join(given),
        )
    if bool(client_cert_file) != bool(client_key_file):
        raise ChannelSettingsError(
            "CLIENT_CERT_WITHOUT_KEY",
            "a client certificate needs its key: give both client_cert_file and "
            "client_key_file, or neither",
        )
    use_tls = tls if tls is not None else bool(given) or not is_loopback_address(address)
    if channel_credentials is not None:
        use_tls = True
    if not use_tls:
        if token and not allow_plaintext and not is_loopback_address(address):
            raise ChannelSettingsError(
                "PLAINTEXT_TOKEN",
                f"the token would travel in clear to {address}: use TLS (tls=True, ca_file=… "
                "when the gateway's CA is not a system one), or allow_plaintext=True when a "
                "tunnel or proxy protects the way",
                address=address,
            )
        return ChannelPlan(None)
    credentials = channel_credentials or grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "ca_file") if ca_file else None,
        private_key=_read(client_key_file, "client_key_file") if client_key_file else None,
        certificate_chain=_read(client_cert_file, "client_cert_file") if client_cert_file else None,
    )
    options: list[tuple[str, Any]] = []
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return ChannelPlan(credentials, options)
