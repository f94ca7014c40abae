"""What an inspector asks of the trail, read from a form: the QueryEvents filters with Paris
dates, the tenants, and why they read (the access journal's purpose); and how the inspectors'
pages show times, values and the gateway's refusals."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import AvalError

if TYPE_CHECKING:
    from aval.console.app import Console
    from aval.console.sessions import Session

PARIS = ZoneInfo("Europe/Paris")
# A tenant's name, as policies require it (aval/policies/review.py).
TENANT = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
VERDICTS = ("approve", "amend", "reject")
# The form's fields, in the order the form shows them.
FIELDS = (
    "decision", "kind", "since", "until", "type", "ai_system", "model_version", "reviewer",
    "verdict", "overrode", "tenants",
)  # fmt: skip
MAX_FIELD = 200
MAX_PURPOSE = 200


Page = Callable[[Request], Awaitable[Response]]


def refusals_shown(console: Console, page: Page) -> Page:
    """`page`, answering a refusal of the gateway with a page in its words (and the matching
    status) rather than failing."""

    @functools.wraps(page)
    async def shown(request: Request) -> Response:
        try:
            return await page(request)
        except AvalError as error:
            session = console.session_of(request)
            if session is None:
                raise
            return console.gateway_error(request, session, error)

    return shown


def page_routes(console: Console, table: Sequence[tuple[str, Page, str]]) -> list[BaseRoute]:
    """Routes of inspector pages `(path, page, method)`, each showing the gateway's refusals."""
    return [Route(path, refusals_shown(console, page), methods=[m]) for path, page, m in table]


async def as_inspector(console: Console, session: Session, purpose: str | None) -> AsyncClient:
    """The gateway as the signed-in inspector, with the purpose of their reads if given."""
    client = await console.gateway_for(session)
    return client.with_purpose(purpose) if purpose else client


def tenant_of(form: Mapping[str, Any], session: Session) -> str:
    """The tenant a form names, else the person's own.

    Raises:
        HTTPException: 400 when the name is not a tenant's (policies' pattern): it also
            names files, so nothing else gets that far.
    """
    value = form.get("tenant")
    tenant = (value.strip() if isinstance(value, str) else "") or session.tenant
    if not TENANT.fullmatch(tenant):
        raise HTTPException(400)
    return tenant


def paris_time(moment: Timestamp | datetime | None) -> str:
    """A moment as people in France read it: 12/03/2026 15:05:09 (Europe/Paris)."""
    if moment is None:
        return ""
    if isinstance(moment, Timestamp):
        if not moment.seconds and not moment.nanos:
            return ""
        moment = moment.ToDatetime(tzinfo=PARIS)
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def enum_word(message: Any, field_name: str) -> str:
    """The value of an enum field as a catalogue key's last word: ``state`` of an approved
    decision gives ``approved`` (DECISION_STATE_APPROVED), ``verdict`` ``approve``."""
    enum = message.DESCRIPTOR.fields_by_name[field_name].enum_type
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    name: str = enum.values_by_number[getattr(message, field_name)].name
    return name.removeprefix(prefix).lower()


def short_json(value: Any, limit: int = 160) -> str:
    """A protobuf message (or plain value) as one line of JSON, cut at `limit` characters."""
    plain = MessageToDict(value) if hasattr(value, "DESCRIPTOR") else value
    text = json.dumps(plain, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def valid_decision_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass
class EventFilters:
    """The filters as typed (`values`), the fields found wrong (`errors`: field → text key)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, given: Mapping[str, Any]) -> EventFilters:
        """Reads and checks the filters of a query string or a posted form."""
        values = {}
        for name in (*FIELDS, "purpose"):
            raw = given.get(name)
            values[name] = raw.strip() if isinstance(raw, str) else ""
        found = cls(values)
        for name, value in values.items():
            limit = MAX_PURPOSE if name == "purpose" else MAX_FIELD
            if len(value) > limit:
                found.errors[name] = "inspection.error.too_long"
        if values["decision"] and not valid_decision_id(values["decision"]):
            found.errors["decision"] = "inspection.error.decision"
        for name in ("since", "until"):
            if values[name] and _day(values[name]) is None:
                found.errors[name] = "inspection.error.day"
        if values["verdict"] not in ("", *VERDICTS):
            found.errors["verdict"] = "inspection.error.choice"
        if values["overrode"] not in ("", "yes", "no"):
            found.errors["overrode"] = "inspection.error.choice"
        return found

    @property
    def purpose(self) -> str | None:
        return self.values.get("purpose") or None

    def query(self) -> dict[str, Any]:
        """The keyword arguments of `query_events` and `export_events` (no paging)."""
        v = self.values
        since, until = _day(v["since"]), _day(v["until"])
        tenants = [name.strip() for name in v["tenants"].split(",") if name.strip()]
        return {
            "decision_id": v["decision"],
            "kind": v["kind"],
            "tenants": tenants,
            # Paris days: from the first day's midnight to the midnight after the last day.
            "since": datetime.combine(since, time(), PARIS) if since else None,
            "until": datetime.combine(until + timedelta(days=1), time(), PARIS) if until else None,
            "decision_type": v["type"],
            "ai_system": v["ai_system"],
            "model_version": v["model_version"],
            "reviewer": v["reviewer"],
            "verdict": v["verdict"] or None,
            "overrode": None if not v["overrode"] else v["overrode"] == "yes",
        }

    def query_string(self, **extra: str) -> str:
        """The filters, the purpose (so that the next page is read for the same reason) and
        `extra` as a query string, empty fields left out."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        pairs += [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)
