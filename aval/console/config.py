"""The console's file (AVAL_CONSOLE_FILE): the authority's identity, how people sign in, and
how long a session lasts; checked at start-up like the review policies.

```yaml
authority:
  name: Commune de Valbrume
  kind: commune
  logo: logo.svg            # relative to this file; .svg or .png, 256 KiB at most
  colors: {primary: "#1f4e79", on_primary: "#ffffff"}
sign_in:                    # one button per entry; issuers are those of AVAL_OIDC_FILE
  - issuer: keycloak-valbrume
    label: Agents de la commune
    client_id: aval-console
    client_secret_env: AVAL_CONSOLE_CLIENT_SECRET
token_sign_in: false        # true: people of the principals file paste their token
session:
  idle_minutes: 30
  max_hours: 10
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aval.console.branding import Authority, Logo, read_logo
from aval.policies.config_file import read_config_file
from aval.service.oidc.config import IssuerConfig, OidcConfig

SETTING = "AVAL_CONSOLE_FILE"


class _SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The issuer's `name` in AVAL_OIDC_FILE: the gateway must accept its tokens.
    issuer: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=80)
    client_id: str = Field(min_length=1, max_length=200)
    # The environment variable holding the client's secret (never the secret itself).
    client_secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    scope: str = Field(default="openid", max_length=200)


class _Session(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idle_minutes: int = Field(default=30, ge=5, le=480)
    max_hours: int = Field(default=10, ge=1, le=24)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    authority: Authority
    sign_in: list[_SignIn] = Field(default_factory=list, max_length=10)
    # People of the principals file (no identity provider) sign in with their personal token.
    token_sign_in: bool = False
    session: _Session = _Session()


@dataclass(frozen=True)
class SignInOption:
    """One way to sign in: an identity provider the gateway trusts, and the console's client."""

    key: str
    label: str
    issuer: IssuerConfig
    client_id: str
    client_secret: str
    scope: str


@dataclass(frozen=True)
class ConsoleConfig:
    authority: Authority
    logo: Logo | None
    sign_in: tuple[SignInOption, ...]
    idle_seconds: int
    max_seconds: int
    source: str
    token_sign_in: bool = False

    def option(self, key: str) -> SignInOption | None:
        return next((o for o in self.sign_in if o.key == key), None)


def demo_console_file() -> Path:
    return Path(str(resources.files("aval.console").joinpath("demo", "console.yaml")))


def load_console(path: Path, oidc: OidcConfig | None) -> ConsoleConfig:
    """Reads and checks a console file.

    Raises:
        PolicyError: naming the file, line, field and fix of the first problem.
    """
    read = read_config_file(path, SETTING)
    shown, data, mistake = read.shown, read.data, read.mistake

    try:
        spec = _File.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "[key]")
        message = str(first["msg"]).removeprefix("Value error, ")
        raise mistake(loc, message, message) from exc
    logo = None
    if spec.authority.logo is not None:
        try:
            logo = read_logo(spec.authority.logo, path.parent)
        except ValueError as exc:
            raise mistake(("authority", "logo"), str(exc), "give a readable .svg or .png") from exc
    options = []
    for i, entry in enumerate(spec.sign_in):
        names = [] if oidc is None else [x.name for x in oidc.issuers]
        if entry.issuer not in names:
            raise mistake(
                ("sign_in", i, "issuer"),
                f"no issuer named {entry.issuer!r} in AVAL_OIDC_FILE",
                "name an issuer of AVAL_OIDC_FILE (the gateway must accept its tokens)",
            )
        secret = os.environ.get(entry.client_secret_env, "")
        if not secret:
            raise mistake(
                ("sign_in", i, "client_secret_env"),
                f"{entry.client_secret_env} is not set",
                f"export {entry.client_secret_env} with the console client's secret",
            )
        assert oidc is not None
        options.append(
            SignInOption(
                key=entry.issuer,
                label=entry.label,
                issuer=oidc.issuer_named(entry.issuer),
                client_id=entry.client_id,
                client_secret=secret,
                scope=entry.scope,
            )
        )
    return ConsoleConfig(
        authority=spec.authority,
        logo=logo,
        sign_in=tuple(options),
        idle_seconds=spec.session.idle_minutes * 60,
        max_seconds=spec.session.max_hours * 3600,
        source=shown,
        token_sign_in=spec.token_sign_in,
    )
