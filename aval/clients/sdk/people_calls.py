"""The People service: the display names behind the trail's ids, built once for both clients
(like :mod:`aval.clients.sdk.admin_calls`)."""

from __future__ import annotations

from collections.abc import Iterable

from aval.clients.sdk.calls import UnaryCall
from aval.v1 import people_pb2

# Ids one call resolves at most; the gateway refuses more.
MAX_IDS = 200


def _names(response: people_pb2.ResolvePeopleResponse) -> dict[str, str]:
    return {person.id: person.display_name for person in response.people}


def resolve_people(ids: Iterable[str], *, tenant: str = "") -> UnaryCall[dict[str, str]]:
    """The display names of people seen in a tenant, by id.

    Args:
        ids: Ids as the trail records them (``oidc:<issuer>:<sub>`` or a principal's id), at
            most 200.
        tenant: The caller's tenant when empty.

    Returns:
        id -> display name, for the ids known in the tenant; the others are absent.

    Raises:
        AvalError: The gateway refused the call (the caller may not see names in the tenant:
            supervisors, inspectors and administrators may).
    """
    request = people_pb2.ResolvePeopleRequest(tenant=tenant, ids=list(ids))
    return UnaryCall("people", "ResolvePeople", request, _names)


def whoami() -> UnaryCall[people_pb2.WhoAmIResponse]:
    """Who the gateway takes the caller to be: id, home tenant, roles there, display name.

    Raises:
        AvalError: UnauthenticatedError when the credentials are refused.
    """
    return UnaryCall("people", "WhoAmI", people_pb2.WhoAmIRequest(), lambda r: r)
