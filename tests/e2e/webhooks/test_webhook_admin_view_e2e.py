"""The read-only view of the outbox: a tenant's administrators list its outcome webhooks (RPC
and `aval admin webhooks list`); nobody else, and never another tenant's."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError, PermissionDeniedError
from aval.v1 import admin_pb2

from ..helpers import propose_kwargs, run_cli
from .conftest import Receiver

pytestmark = pytest.mark.e2e

DELIVERED = admin_pb2.WEBHOOK_DELIVERY_STATUS_DELIVERED


def _delivered(admin: Client, decision_id: str) -> admin_pb2.WebhookDelivery:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [
            d
            for d in admin.list_webhook_deliveries(status="delivered").deliveries
            if d.decision_id == decision_id
        ]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{decision_id} not delivered")


def test_a_tenant_administrator_lists_its_outcome_webhooks(
    as_: Callable[[str], Client], receiver: Receiver
) -> None:
    d = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="approve")
    [(headers, _)] = receiver.wait_for(d.id)
    row = _delivered(as_("admin-a"), d.id)
    assert (row.tenant, row.application_id, row.event_type) == (
        "ville-a",
        "app-a",
        "decision.finalized",
    )
    assert row.event_id == headers["webhook-id"] and row.attempts == 1 and row.status == DELIVERED
    assert row.last_error == "" and row.delivered_at.seconds > 0
    pending = as_("admin-a").list_webhook_deliveries(status="pending").deliveries
    assert d.id not in {p.decision_id for p in pending}
    assert len(as_("admin-a").list_webhook_deliveries(limit=1).deliveries) == 1


def test_only_the_tenants_administrators_may_list_them(as_: Callable[[str], Client]) -> None:
    for who in ("app-a", "sup-a1", "insp-a"):
        with pytest.raises(PermissionDeniedError):
            as_(who).list_webhook_deliveries()
    with pytest.raises(PermissionDeniedError):
        as_("admin-b").list_webhook_deliveries(tenant="ville-a")
    assert all(r.tenant == "ville-b" for r in as_("admin-b").list_webhook_deliveries().deliveries)
    with pytest.raises(InvalidArgumentError):
        as_("admin-a").list_webhook_deliveries(limit=1001)


def test_the_command_line_lists_them(
    as_: Callable[[str], Client], hooked: object, receiver: Receiver
) -> None:
    d = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    as_("sup-a1").decide(d.id, verdict="approve")
    _delivered(as_("admin-a"), d.id)
    address = as_("admin-a").address
    done = run_cli(address, "admin-a", "admin", "webhooks", "list", "--status", "delivered")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if d.id in x)
    assert "livré" in line and "app-a" in line
    done = run_cli(
        address, "admin-a", "--lang", "en", "admin", "webhooks", "list", "--status", "dead"
    )
    assert done.returncode == 0 and "No outcome webhook in this tenant." in done.stdout
    refused = run_cli(address, "sup-a1", "admin", "webhooks", "list")
    assert refused.returncode == 1 and refused.stdout == ""
