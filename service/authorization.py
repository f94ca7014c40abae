"""Authorisation with Casbin (RBAC with domains, the domain being the tenant): deny by default."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import casbin

from .errors import PermissionDenied
from .identity import Principal


def _packaged(name: str) -> str:
    return str(resources.files("aval.policies").joinpath(name))


class Authorizer:
    """Answers whether a principal may perform an action in a tenant."""

    def __init__(self, principals: Iterable[Principal], grants_file: Path | None = None) -> None:
        self._enforcer = casbin.Enforcer(
            _packaged("authz_model.conf"), str(grants_file or _packaged("grants.csv"))
        )
        self._enforcer.enable_auto_save(False)
        rules = [
            [p.id, role, tenant]
            for p in principals
            for tenant, roles in p.roles.items()
            for role in sorted(roles)
        ]
        if rules:
            self._enforcer.add_grouping_policies(rules)
        # Grants are fixed for the life of the process, so answers can be kept: the matcher is
        # interpreted by Casbin at every call and costs more than the rest of a request's checks.
        self._answers: dict[tuple[str, str, str], bool] = {}

    def allowed(self, principal: Principal, tenant: str, action: str) -> bool:
        key = (principal.id, tenant, action)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = bool(self._enforcer.enforce(*key))
        return answer

    def require(self, principal: Principal, tenant: str, action: str) -> None:
        """Raises PermissionDenied unless the grants allow the action in the tenant."""
        if not self.allowed(principal, tenant, action):
            raise PermissionDenied(
                "NOT_GRANTED", principal=principal.id, action=action, tenant=tenant
            )
