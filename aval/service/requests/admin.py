"""Validated requests of the Admin service, and the checks of an AI system's configuration (I6).

`parse` (requests/__init__.py) checks types, presence and lengths; the functions here check
what needs the domain's words: names, endpoints, metrics, and what the operator's AI egress
file allows the tenant (endpoints and secrets).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from aval.service.ai.egress import SETTING, EgressPolicy, host_name, ip_literal, shown_endpoint
from aval.service.errors import FieldViolation, InvalidArgument
from aval.service.requests import Request, parse
from aval.service.text import has_visible_text, visible
from aval.v1 import admin_pb2

# The same rule as `ai_system` in a review policy (policies/review.py).
AI_SYSTEM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_HOST_PORT = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>\d{1,5})$"
)
# What an OpenAI-compatible base URL may hold: nothing a URL parser could read two ways.
_CLEAN_URL = re.compile(
    r"^https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
)
_MAX_COUNT = 2**62
_MAX_METRICS = 50

SystemName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=63)]
VersionName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$"),
    AfterValidator(visible),
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(visible),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Limit = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(visible),
]
Count = Annotated[int, Field(ge=0, le=_MAX_COUNT)]
Scope = Literal["STOP_SCOPE_TENANT", "STOP_SCOPE_DECISION_TYPE", "STOP_SCOPE_AI_SYSTEM"]


class AISystemIn(Request):
    tenant: str = ""
    name: SystemName
    kind: Literal["BACKEND_KIND_OPENAI_COMPATIBLE", "BACKEND_KIND_ADVISOR"]
    endpoint: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    api_key_env: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    pinned_version: str = ""
    shadow_version: str = ""
    enabled: bool = False
    timeout: timedelta | None = Field(default=None, ge=timedelta(0), le=timedelta(minutes=10))
    max_attempts: int = Field(default=0, ge=0, le=5)
    energy_mwh_per_1k_tokens: Count = 0
    energy_mwh_per_call: Count = 0
    cost_micro_eur_per_1k_tokens: Count = 0
    cost_micro_eur_per_call: Count = 0

    @property
    def backend_kind(self) -> str:
        return self.kind.removeprefix("BACKEND_KIND_")

    @property
    def timeout_ms(self) -> int:
        if not self.timeout:
            return 10_000
        return max(1, math.ceil(self.timeout / timedelta(milliseconds=1)))

    @property
    def attempts(self) -> int:
        return self.max_attempts or 2


class RegisterAISystemIn(Request):
    ai_system: AISystemIn
    reason: Reason


class InstructionsIn(Request):
    intended_purpose: Reason
    known_limits: list[Limit] = Field(default_factory=list, max_length=20)
    accuracy_note: Text = ""
    metrics: dict[str, float] = Field(default_factory=dict)


class RegisterModelVersionIn(Request):
    tenant: str = ""
    ai_system: SystemName
    version: VersionName
    instructions: InstructionsIn


class RequestPinIn(Request):
    tenant: str = ""
    ai_system: SystemName
    version: VersionName
    reason: Reason


class DecidePinIn(Request):
    tenant: str = ""
    pin_request_id: uuid.UUID
    approve: bool = False
    reason: Reason


class ListPinRequestsIn(Request):
    tenant: str = ""
    pending_only: bool = False


class SetShadowIn(Request):
    tenant: str = ""
    ai_system: SystemName
    version: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    reason: Reason


class StopIn(Request):
    tenant: str = ""
    scope: Scope
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    reason: Reason

    @property
    def scope_name(self) -> str:
        return self.scope.removeprefix("STOP_SCOPE_")


class EvaluateIn(Request):
    tenant: str = ""
    ai_system: SystemName
    decision_type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    since: datetime | None = None


class UsageIn(Request):
    tenant: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _endpoint_violations(system: AISystemIn) -> list[FieldViolation]:
    where = "ai_system.endpoint"
    if system.backend_kind == "ADVISOR":
        match = _HOST_PORT.match(system.endpoint)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            return [FieldViolation(where, "ADVISOR_ADDRESS", {"value": system.endpoint})]
        return _host_violations(match["host"])
    bad_url = [FieldViolation(where, "ENDPOINT_URL", {"value": system.endpoint})]
    try:
        parts = urlsplit(system.endpoint)
        hostname, port = parts.hostname, parts.port  # a bad port raises ValueError
    except ValueError:
        return bad_url
    if parts.scheme not in ("http", "https") or not hostname or parts.query or parts.fragment:
        return bad_url
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return [FieldViolation(where, "ENDPOINT_CREDENTIALS")]
    if port == 0 or not _CLEAN_URL.match(system.endpoint):
        return bad_url
    return _host_violations(parts.netloc.rpartition(":")[0] if port else parts.netloc)


def _host_violations(host: str) -> list[FieldViolation]:
    """A host must be a DNS name or an IP address in its usual form: not a number that a
    resolver would read as an address (2130706433, 0x7f000001, 127.1)."""
    if ip_literal(host) is not None or host_name(host) is not None:
        return []
    return [FieldViolation("ai_system.endpoint", "ENDPOINT_HOST", {"host": host[:100]})]


async def egress_violations(
    egress: EgressPolicy, tenant: str, kind: str, endpoint: str, secret: str
) -> list[FieldViolation]:
    """What the operator's egress file does not allow an AI system of `tenant` (I5): its
    endpoint, and its API key's secret when it names one. Never names a variable nor a value."""
    if not egress.configured:
        fields = ["ai_system.endpoint", *(["ai_system.api_key_env"] if secret else [])]
        return [FieldViolation(f, "NO_AI_EGRESS", {"setting": SETTING}) for f in fields]
    violations = []
    if await egress.endpoint_refusal(tenant, kind, endpoint) is not None:
        params = {"endpoint": shown_endpoint(kind, endpoint), "tenant": tenant, "setting": SETTING}
        violations.append(FieldViolation("ai_system.endpoint", "ENDPOINT_NOT_ALLOWED", params))
    if secret and not egress.declares(tenant, secret):
        declared = ", ".join(egress.secret_names(tenant)) or "—"
        params = {"tenant": tenant, "declared": declared, "setting": SETTING}
        violations.append(FieldViolation("ai_system.api_key_env", "SECRET_NOT_DECLARED", params))
    return violations


def system_violations(system: AISystemIn) -> list[FieldViolation]:
    """What is wrong with an AI system's configuration, whatever the registry holds."""
    violations = []
    if not AI_SYSTEM_NAME.match(system.name):
        violations.append(FieldViolation("ai_system.name", "AI_SYSTEM_NAME"))
    violations += _endpoint_violations(system)
    if system.backend_kind == "OPENAI_COMPATIBLE" and not system.model:
        violations.append(FieldViolation("ai_system.model", "MODEL_REQUIRED"))
    return violations


def name_violations(field: str, name: str) -> list[FieldViolation]:
    """The violation of an AI system's name in `field`, if it breaks the naming rule."""
    return [] if AI_SYSTEM_NAME.match(name) else [FieldViolation(field, "AI_SYSTEM_NAME")]


def _metrics(values: Mapping[str, float]) -> tuple[dict[str, float], list[FieldViolation]]:
    violations = []
    if len(values) > _MAX_METRICS:
        violations.append(
            FieldViolation("instructions.metrics", "TOO_MANY", {"limit": _MAX_METRICS})
        )
    for name, value in sorted(values.items()):
        where = f"instructions.metrics.{name}"
        if not has_visible_text(name) or len(name) > 100:
            violations.append(FieldViolation(where, "METRIC_NAME"))
        elif not math.isfinite(value):
            violations.append(FieldViolation(where, "NOT_FINITE"))
    return dict(sorted(values.items())), violations


def parse_model_version(message: admin_pb2.RegisterModelVersionRequest) -> RegisterModelVersionIn:
    """Validates a RegisterModelVersion request, reporting every bad field at once.

    Raises:
        InvalidArgument: with one field violation per problem, named by wire field path.
    """
    # `parse` reads no protobuf map: the metrics are checked here.
    stripped = admin_pb2.RegisterModelVersionRequest()
    stripped.CopyFrom(message)
    stripped.instructions.ClearField("metrics")
    violations: list[FieldViolation] = []
    parsed: RegisterModelVersionIn | None = None
    try:
        parsed = parse(RegisterModelVersionIn, stripped)
    except InvalidArgument as exc:
        violations += exc.violations
    metrics, bad = _metrics(dict(message.instructions.metrics))
    violations += bad
    if parsed is not None:
        violations += name_violations("ai_system", parsed.ai_system)
    if violations or parsed is None:
        raise InvalidArgument(violations)
    instructions = parsed.instructions.model_copy(update={"metrics": metrics})
    return parsed.model_copy(update={"instructions": instructions})


def parse_ai_system(message: admin_pb2.RegisterAISystemRequest) -> RegisterAISystemIn:
    """Validates a RegisterAISystem request: its fields, then its configuration.

    Raises:
        InvalidArgument: with one field violation per problem, named by wire field path.
    """
    # The versions of the message are ignored by the contract (and `parse` reads no list of
    # messages).
    stripped = admin_pb2.RegisterAISystemRequest()
    stripped.CopyFrom(message)
    stripped.ai_system.ClearField("versions")
    parsed = parse(RegisterAISystemIn, stripped)
    violations = system_violations(parsed.ai_system)
    if violations:
        raise InvalidArgument(violations)
    return parsed


class ListWebhookDeliveriesIn(Request):
    tenant: str = ""
    status: Literal[
        "WEBHOOK_DELIVERY_STATUS_UNSPECIFIED",
        "WEBHOOK_DELIVERY_STATUS_PENDING",
        "WEBHOOK_DELIVERY_STATUS_DELIVERED",
        "WEBHOOK_DELIVERY_STATUS_DEAD",
    ] = "WEBHOOK_DELIVERY_STATUS_UNSPECIFIED"
    limit: int = Field(default=0, ge=0, le=1000)

    @property
    def status_name(self) -> str | None:
        """pending, delivered or dead; None for every status."""
        name = self.status.removeprefix("WEBHOOK_DELIVERY_STATUS_").lower()
        return None if name == "unspecified" else name
