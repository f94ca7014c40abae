"""Authorisation with Casbin (RBAC with domains, the domain being the tenant): deny by default."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import casbin

from aval.service.errors import PermissionDenied
from aval.service.identity import ROLES, Principal, PrincipalKey


def _packaged(name: str) -> str:
    return str(resources.files("aval.policies").joinpath(name))


class GrantsFileError(ValueError):
    """A grants file that grants something else than actions to roles."""


def check_grants_file(path: Path) -> None:
    """Refuses any line but `p, <role>, <tenant or *>, <action>`.

    Roles come from the principals file, per tenant; a grant to anything else (a principal's id,
    a role nobody can hold) or a role given here (`g`) would bypass it.

    Raises:
        GrantsFileError: naming the file, the line and the fix.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GrantsFileError(f"{path}: {exc} — fix: check AVAL_GRANTS_FILE") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if len(cells) != 4 or cells[0] != "p" or cells[1] not in ROLES:
            raise GrantsFileError(
                f"{path}: line {number}: {line.strip()!r} is not a grant of an action to a role "
                f"— fix: write `p, <role>, <tenant or *>, <action>` with a role of "
                f"{', '.join(ROLES)}; principals get roles in the principals file"
            )


class Authorizer:
    """Answers whether a principal may perform an action in a tenant.

    The subject Casbin sees is the principal's key (`Principal.key`), never its bare id: two
    principals never share grants, and none is taken for a role.
    """

    def __init__(self, principals: Iterable[Principal], grants_file: Path | None = None) -> None:
        grants = grants_file or Path(_packaged("grants.csv"))
        check_grants_file(grants)
        self._enforcer = casbin.Enforcer(_packaged("authz_model.conf"), str(grants))
        self._enforcer.enable_auto_save(False)
        rules = [
            [str(p.key), role, tenant]
            for p in principals
            for tenant, roles in p.roles.items()
            for role in sorted(roles)
        ]
        if rules:
            self._enforcer.add_grouping_policies(rules)
        # Grants are fixed for the life of the process, so answers can be kept: the matcher is
        # interpreted by Casbin at every call and costs more than the rest of a request's checks.
        self._answers: dict[tuple[PrincipalKey, str, str], bool] = {}

    @property
    def cached_answers(self) -> int:
        return len(self._answers)

    def allowed(self, principal: Principal, tenant: str, action: str) -> bool:
        # Without a role in the tenant nothing can be granted there (roles are the only
        # subjects of grants); answering at once keeps the names a caller makes up out of the
        # cache, which would otherwise grow with every unknown tenant asked for.
        if not principal.roles_in(tenant):
            return False
        key = (principal.key, tenant, action)
        answer = self._answers.get(key)
        if answer is None:
            answer = bool(self._enforcer.enforce(str(principal.key), tenant, action))
            self._answers[key] = answer
        return answer

    def require(self, principal: Principal, tenant: str, action: str) -> None:
        """Raises PermissionDenied unless the grants allow the action in the tenant.

        The refusal is the same whether or not the tenant exists (I5: tenants cannot be listed).
        """
        if not self.allowed(principal, tenant, action):
            raise PermissionDenied(
                "NOT_GRANTED", principal=principal.id, action=action, tenant=tenant
            )
