"""People shown by name where the CLI shows their ids: "Marie Dupont (oidc:keycloak:8f2…)".

Names come from the gateway's People service, for the ids of what is about to be printed;
whoever may not see names there (an application), or an id the gateway does not know, is shown
by the id alone. The JSON output keeps the ids as the gateway sent them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aval.clients.sdk.errors import AvalError
from aval.clients.sdk.people_calls import MAX_IDS
from aval.v1 import audit_pb2, common_pb2, review_pb2

if TYPE_CHECKING:
    from aval.clients import Client


def shown(names: Mapping[str, str], principal_id: str) -> str:
    """`principal_id` as a person reads it: with their name before it when known."""
    name = names.get(principal_id)
    return f"{name} ({principal_id})" if name else principal_id


def names_of(client: Client, ids: Iterable[str], tenant: str = "") -> dict[str, str]:
    """The names the gateway gives the caller for `ids` in `tenant`; {} when it gives none."""
    wanted = list(dict.fromkeys(i for i in ids if i))[:MAX_IDS]
    if not wanted:
        return {}
    try:
        return client.resolve_people(wanted, tenant=tenant)
    except AvalError:  # not allowed to see names, or an older gateway: ids alone
        return {}


def decision_ids(decision: common_pb2.Decision) -> list[str]:
    """The people a decision names: its reviewers and who holds its claim."""
    ids = [review.reviewer_id for review in decision.reviews]
    if decision.HasField("claim"):
        ids.append(decision.claim.claimed_by)
    return ids


def queue_ids(response: review_pb2.ListQueueResponse) -> list[str]:
    return [id_ for d in response.decisions for id_ in decision_ids(d)]


def event_names(client: Client, response: audit_pb2.QueryEventsResponse) -> dict[str, str]:
    """The names of the events' actors, asked in each tenant the page holds."""
    by_tenant: dict[str, list[str]] = {}
    for event in response.events:
        by_tenant.setdefault(event.tenant, []).append(event.actor_id)
    names: dict[str, str] = {}
    for tenant, ids in by_tenant.items():
        names.update(names_of(client, ids, tenant))
    return names
