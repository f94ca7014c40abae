"""Authorisation with Casbin (RBAC with domains, the domain being the tenant): deny by default."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import casbin

from aval.service.errors import PermissionDenied
from aval.service.identity import ROLES, Principal


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


# Answers kept, one per (role, tenant, action): roles and actions are few, and tenants come from
# the configuration (a principal holds roles only in configured tenants); the bound is a guard.
MAX_ANSWERS = 100_000


class Authorizer:
    """Answers whether a principal may perform an action in a tenant.

    A principal's roles in the tenant (`Principal.roles_in`, from the principals file or from
    the claims of a person's token) are the only subjects Casbin is asked about, never the
    principal's id: no principal is taken for a role, and none shares another's grants.
    """

    def __init__(
        self, principals: Iterable[Principal] = (), grants_file: Path | None = None
    ) -> None:
        # `principals` is no longer needed (each call's principal brings its roles); it is kept
        # so that callers checking a grants file with the principals it will authorise work.
        del principals
        grants = grants_file or Path(_packaged("grants.csv"))
        check_grants_file(grants)
        self._enforcer = casbin.Enforcer(_packaged("authz_model.conf"), str(grants))
        self._enforcer.enable_auto_save(False)
        # Grants are fixed for the life of the process, so answers can be kept: the matcher is
        # interpreted by Casbin at every call and costs more than the rest of a request's checks.
        self._answers: dict[tuple[str, str, str], bool] = {}

    @property
    def cached_answers(self) -> int:
        return len(self._answers)

    def _role_allowed(self, role: str, tenant: str, action: str) -> bool:
        key = (role, tenant, action)
        answer = self._answers.get(key)
        if answer is None:
            # Casbin's role manager links a name to itself: the role is the subject.
            answer = bool(self._enforcer.enforce(role, tenant, action))
            if len(self._answers) < MAX_ANSWERS:
                self._answers[key] = answer
        return answer

    def allowed(self, principal: Principal, tenant: str, action: str) -> bool:
        # Without a role in the tenant nothing can be granted there (roles are the only
        # subjects of grants); answering at once keeps the names a caller makes up out of the
        # cache, which would otherwise grow with every unknown tenant asked for.
        return any(
            self._role_allowed(role, tenant, action)
            for role in sorted(principal.roles_in(tenant))
            if role in ROLES
        )

    def require(self, principal: Principal, tenant: str, action: str) -> None:
        """Raises PermissionDenied unless the grants allow the action in the tenant.

        The refusal is the same whether or not the tenant exists (I5: tenants cannot be listed).
        """
        if not self.allowed(principal, tenant, action):
            if principal.key.kind == "oidc":  # roles come from the person's identity provider
                raise PermissionDenied(
                    "NOT_GRANTED_BY_SIGN_IN",
                    principal=principal.id,
                    action=action,
                    tenant=tenant,
                    issuer=principal.key.namespace,
                )
            raise PermissionDenied(
                "NOT_GRANTED", principal=principal.id, action=action, tenant=tenant
            )
