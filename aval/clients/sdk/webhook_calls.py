"""The Admin service's read of outcome webhooks, built once for both clients (like
:mod:`aval.clients.sdk.admin_calls`)."""

from __future__ import annotations

from typing import Literal

from aval.clients.sdk.calls import UnaryCall, _choice, _whole
from aval.v1 import admin_pb2

WebhookStatusName = Literal["", "pending", "delivered", "dead"]

_STATUSES: dict[str, admin_pb2.WebhookDeliveryStatus.ValueType] = {
    "": admin_pb2.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED,
    "pending": admin_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    "delivered": admin_pb2.WEBHOOK_DELIVERY_STATUS_DELIVERED,
    "dead": admin_pb2.WEBHOOK_DELIVERY_STATUS_DEAD,
}


def list_webhook_deliveries(
    *, status: WebhookStatusName = "", limit: int = 0, tenant: str = ""
) -> UnaryCall[admin_pb2.ListWebhookDeliveriesResponse]:
    """Lists a tenant's outcome webhooks, newest first.

    Args:
        status: "pending", "delivered" or "dead"; every status when empty.
        limit: At most this many (100 when 0, at most 1000).
        tenant: The caller's tenant when empty.

    Returns:
        The deliveries, with attempts and the last error.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ListWebhookDeliveriesRequest(
        tenant=tenant, status=_choice(_STATUSES, "status", status), limit=limit
    )
    return UnaryCall("admin", "ListWebhookDeliveries", request, _whole)
