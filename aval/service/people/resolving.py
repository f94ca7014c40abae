"""ResolvePeople: the display names of people seen in a tenant, for those who read its trail."""

from __future__ import annotations

from aval.audit_store import people
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.oidc.authenticator import PREFIX
from aval.service.people.names import safe_display_name
from aval.service.requests.people import ResolvePeopleIn

ACTION = "people.resolve"


def _file_names(deployment: Deployment, tenant: str, wanted: set[str]) -> dict[str, str]:
    """Names the principals file gives its principals of `tenant`: served from memory."""
    found: dict[str, str] = {}
    for principal in getattr(deployment.authenticator, "principals", []):
        if principal.id in wanted and (principal.tenant == tenant or tenant in principal.roles):
            name = safe_display_name(principal.display_name)
            if name:
                found[principal.id] = name
    return found


async def resolve_people(
    deployment: Deployment, principal: Principal, request: ResolvePeopleIn
) -> list[tuple[str, str]]:
    """(id, display name) of the requested ids known in the tenant, in request order, once
    each; the others (unknown, seen only in other tenants, purged) are left out.

    Raises:
        PermissionDenied: the caller may not resolve people in the tenant (I5), whether or not
            it exists.
    """
    tenant = deployment.tenant_for(principal, request.tenant, ACTION)
    ids = list(dict.fromkeys(request.ids))
    names = await display_names(deployment, tenant, ids)
    return [(i, names[i]) for i in ids if names.get(i)]


async def display_names(deployment: Deployment, tenant: str, ids: list[str]) -> dict[str, str]:
    """The display names of those of `ids` known in the tenant (principals file, people
    directory); the caller checked it may resolve people there."""
    names = _file_names(deployment, tenant, set(ids))
    persons = [i for i in ids if i.startswith(PREFIX) and i not in names]
    if persons:
        async with deployment.store.reading() as conn:
            names.update(await people.resolve(conn, tenant, persons))
    return names
