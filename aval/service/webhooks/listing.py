"""ListWebhookDeliveries: a tenant's outbox, read-only, for its administrators."""

from __future__ import annotations

from aval.audit_store import webhook_outbox
from aval.audit_store.webhook_outbox import OutboxEntry
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.admin import ListWebhookDeliveriesIn

_DEFAULT_LIMIT = 100


async def list_deliveries(
    deployment: Deployment, principal: Principal, request: ListWebhookDeliveriesIn
) -> list[OutboxEntry]:
    """The tenant's outcome webhooks of the requested status, newest first.

    Raises:
        PermissionDenied: the caller may not read the tenant's administration (I5).
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        return await webhook_outbox.listing(
            conn, tenant, status=request.status_name, limit=request.limit or _DEFAULT_LIMIT
        )
