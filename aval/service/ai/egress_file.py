"""The AI egress file (AVAL_AI_EGRESS_FILE), validated at start-up: a mistake stops the start
with the file, the line, the field and the fix, as a review policy's does.

    tenants:
      ville-a:
        secrets:                      # the name an administrator gives -> the variable read
          albert: ALBERT_API_KEY_VILLE_A
        endpoints:
          - host: albert.api.etalab.gouv.fr
            ports: [443]
          - network: 10.20.0.0/16     # any host name must resolve only into it
            ports: [8000, 11434]
      "*":                            # endpoints every tenant may reach (never secrets)
        endpoints:
          - network: 127.0.0.1/32
            ports: [11434]

A tenant may also name where the outcomes of an application's decisions are POSTed, signed with
one of its secrets, at an endpoint its rules allow (service/webhooks/; never settable by RPC):

        webhooks:
          app-urbanisme:              # the id of an application principal of the tenant
            url: https://urbanisme.ville-a.fr/aval/outcomes
            secret: urbanisme-webhook # a secret of this tenant: the HMAC key
            language: fr              # of the citizen notice in the payload (fr or en)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from aval.policies import PolicyError
from aval.policies.loading import _read
from aval.policies.yaml_lines import line_of
from aval.service.ai.egress import (
    ALL_TENANTS,
    SETTING,
    EgressPolicy,
    EgressRefused,
    EndpointRule,
    TenantEgress,
    WebhookTarget,
    host_name,
    ip_literal,
)
from aval.service.identity import Principal
from aval.service.settings import Settings
from aval.service.webhooks.signing import KEY_FORMS, signing_key


class _Mistake(ValueError):
    """A value the file may not hold, and how to mend it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


def _host(value: str) -> str:
    name = host_name(value)
    if name is None:
        literal = ip_literal(value)
        fix = (
            f"write an address as a network: `network: {literal}/{literal.max_prefixlen}`"
            if literal is not None
            else "write a DNS host name such as albert.api.etalab.gouv.fr"
        )
        raise _Mistake(f"{value!r} is not a DNS host name", fix)
    return name


def _network(value: str) -> str:
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        raise _Mistake(
            f"{value!r} is not an IP network", "write it in CIDR form, e.g. 10.20.0.0/16"
        ) from None
    network = interface.network
    if interface.ip != network.network_address:
        raise _Mistake(f"{value!r} has bits set beyond its prefix", f"write {network}")
    return str(network)


# The server's own settings (AVAL_DATABASE_URL, AVAL_SIGNING_KEY…) are never an AI's secret.
_SETTINGS = frozenset(f"AVAL_{name.upper()}" for name in Settings.model_fields)


def _variable(value: str) -> str:
    if value.upper() in _SETTINGS:
        raise _Mistake(
            f"{value} is a setting of this server, not an AI system's secret",
            "put the AI system's key in an environment variable of its own",
        )
    return value


SecretName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
Variable = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"), AfterValidator(_variable)
]
Port = Annotated[int, Field(ge=1, le=65535)]


class EndpointEntry(BaseModel):
    """A host name or an IP network, on the listed ports (all ports when there is no list)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    host: Annotated[str, AfterValidator(_host)] | None = None
    network: Annotated[str, AfterValidator(_network)] | None = None
    ports: list[Port] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_target(self) -> EndpointEntry:
        if (self.host is None) == (self.network is None):
            raise _Mistake("an endpoint has either a host or a network", "keep one of the two")
        return self

    def rule(self) -> EndpointRule:
        return EndpointRule(
            host=self.host,
            network=ipaddress.ip_network(self.network) if self.network else None,
            ports=frozenset(self.ports) if self.ports is not None else None,
        )


def _webhook_url(value: str) -> str:
    try:
        url = httpx.URL(value)  # the parser the deliveries themselves go through
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.raw_host:
        raise _Mistake(f"{value!r} is not an http(s) URL", "write it as https://host/path")
    if url.userinfo:
        raise _Mistake("a webhook URL carries no credentials", "sign with `secret` instead")
    if url.fragment:
        raise _Mistake("a webhook URL has no fragment", "remove what follows '#'")
    return value


class WebhookEntry(BaseModel):
    """Where an application's outcomes go and the secret that signs them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: Annotated[str, Field(max_length=2000), AfterValidator(_webhook_url)]
    secret: SecretName
    language: Literal["fr", "en"] = "fr"


class TenantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    secrets: dict[SecretName, Variable] = Field(default_factory=dict)
    endpoints: list[EndpointEntry] = Field(default_factory=list)
    webhooks: dict[SecretName, WebhookEntry] = Field(default_factory=dict)


class EgressFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tenants: dict[str, TenantEntry] = Field(default_factory=dict)


def _fix_for(error: Any) -> tuple[str, str]:
    """(message, fix) of the first validation error."""
    mistake = (error.get("ctx") or {}).get("error")
    if isinstance(mistake, _Mistake):
        return mistake.message, mistake.fix
    name = str(error["loc"][-1]) if error["loc"] else ""
    if "ports" in error["loc"]:
        return str(error["msg"]), "a port is a whole number from 1 to 65535"
    fixes = {
        "extra_forbidden": (
            f"remove '{name}' or correct its spelling: the keys are tenants, secrets, "
            "endpoints, host, network, ports, webhooks, url, secret and language"
        ),
        "missing": f"add '{name}'",
        "string_pattern_mismatch": (
            "a secret's name has letters, digits, '.', '_' and '-'; its variable is an "
            "environment variable's name"
        ),
    }
    return str(error["msg"]), fixes.get(str(error["type"]), str(error["msg"]))


def load_egress_file(
    path: Path, tenants: Collection[str], principals: Iterable[Principal] | None = None
) -> EgressPolicy:
    """Reads and checks an egress file against the deployment's tenants (and its principals,
    which the webhooks name, when given).

    Raises:
        PolicyError: naming the file, line, field and fix of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            str(path),
            None,
            "(file)",
            f"cannot read it ({exc.strerror})",
            f"set {SETTING} to a readable YAML file",
        ) from exc
    source = _read(str(path), text)

    def mistake(loc: tuple[str | int, ...], message: str, fix: str) -> PolicyError:
        where = ".".join(str(p) for p in loc) or "(document)"
        return PolicyError(str(path), line_of(source.root, loc), where, message, fix)

    try:
        spec = EgressFile.model_validate({} if source.data is None else source.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "[key]")
        raise mistake(loc, *_fix_for(first)) from exc
    for name, entry in spec.tenants.items():
        if name == ALL_TENANTS and entry.secrets:
            raise mistake(
                ("tenants", name, "secrets"),
                "secrets are never shared by every tenant",
                "declare each secret under the one tenant whose AI systems may use it",
            )
        if name != ALL_TENANTS and name not in tenants:
            raise mistake(
                ("tenants", name),
                f"unknown tenant {name!r}; known: {', '.join(sorted(tenants)) or 'none'}",
                "name a tenant of the review policies, or '*' for the endpoints of every tenant",
            )
    policy = {
        name: TenantEgress(dict(entry.secrets), tuple(e.rule() for e in entry.endpoints))
        for name, entry in spec.tenants.items()
    }
    webhooks = [
        WebhookTarget(tenant, application, hook.url, hook.secret, hook.language)
        for tenant, entry in spec.tenants.items()
        for application, hook in entry.webhooks.items()
    ]
    checked = EgressPolicy(policy, source=str(path), webhooks=webhooks)
    applications = None
    if principals is not None:
        applications = {
            (t, p.id) for p in principals for t in p.roles if "application" in p.roles_in(t)
        }
    for hook in webhooks:
        problem = _webhook_problem(checked, hook, applications)
        if problem is not None:
            where = ("tenants", hook.tenant, "webhooks", hook.application, problem[0])
            raise mistake(where, problem[1], problem[2])
    return checked


def _webhook_problem(
    policy: EgressPolicy, hook: WebhookTarget, applications: set[tuple[str, str]] | None
) -> tuple[str, str, str] | None:
    """(field, message, fix) of what is wrong with a webhook, or None."""
    if hook.tenant == ALL_TENANTS:
        return ("url", "webhooks belong to one tenant", "move it under its application's tenant")
    if applications is not None and (hook.tenant, hook.application) not in applications:
        return (
            "url",
            f"{hook.application!r} is not an application principal of {hook.tenant}",
            "name the id of an application principal of this tenant (principals file)",
        )
    if not policy.declares(hook.tenant, hook.secret):
        return (
            "secret",
            f"{hook.secret!r} is not a secret of {hook.tenant}",
            f"declare it under tenants.{hook.tenant}.secrets (name: ENVIRONMENT_VARIABLE)",
        )
    try:
        signing_key(policy.api_key(hook.tenant, hook.secret) or "")
    except (EgressRefused, ValueError):
        return (
            "secret",
            f"the environment variable of secret {hook.secret!r} holds no usable key",
            f"set it to a key shared with the application: {KEY_FORMS}",
        )
    url = httpx.URL(hook.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    if not policy.may_reach(hook.tenant, url.raw_host.decode("ascii"), port):
        return (
            "url",
            f"{url.host}:{port} is not an endpoint {hook.tenant} may reach",
            f"allow it under tenants.{hook.tenant}.endpoints (host or network, and port)",
        )
    return None


def load_egress(
    path: Path | None, tenants: Collection[str], principals: Iterable[Principal] | None = None
) -> EgressPolicy:
    """The egress policy of a deployment: its file's, or none (nothing allowed) without one."""
    if path is None:
        return EgressPolicy.none()
    return load_egress_file(path, tenants, principals)


def describe(policy: EgressPolicy) -> str:
    """One line for the start-up log."""
    if not policy.configured:
        return f"no {SETTING}: AI systems may reach no endpoint and use no secret"
    return f"AI egress allowed by {policy.source}"


def demo_egress(base: Path | None, tenant: str, host: str, port: int) -> dict[str, Any]:
    """An egress document allowing (host, port) to `tenant`, added to the file `base` if any."""
    data: dict[str, Any] = {}
    if base is not None:
        data = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    entry = data.setdefault("tenants", {}).setdefault(tenant, {})
    entry.setdefault("endpoints", []).append({"network": f"{host}/32", "ports": [port]})
    return data
