"""`aval serve --demo`: tenant ville-demo, its decision types, and fresh principals."""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path

import yaml

from aval.console.app import DemoPerson
from aval.service.identity import token_hash

DEMO_TENANT = "ville-demo"
# (environment variable, principal id, roles, display name)
_DEMO_PRINCIPALS = (
    ("AVAL_TOKEN_APP", "app-demarches", ["application"], "Application « Démarches en ligne »"),
    ("AVAL_TOKEN_SUPERVISOR_1", "agent-martin", ["supervisor"], "Camille Martin, instructrice"),
    ("AVAL_TOKEN_SUPERVISOR_2", "agent-bernard", ["supervisor"], "Sacha Bernard, responsable"),
    ("AVAL_TOKEN_INSPECTOR", "inspecteur-controle", ["inspector"], "Contrôle interne"),
    # Two administrators: changing a pinned model version takes one to ask, another to approve.
    ("AVAL_TOKEN_ADMIN", "admin-durand", ["admin"], "Dominique Durand, administratrice"),
    ("AVAL_TOKEN_ADMIN_2", "admin-petit", ["admin"], "Alex Petit, responsable numérique"),
    # Reads the access journal (R13): who consulted which decision.
    ("AVAL_TOKEN_PRIVACY_OFFICER", "dpd-leroy", ["privacy_officer"], "Claude Leroy, DPD"),
)


def demo_people(exports: list[tuple[str, str]]) -> list[DemoPerson]:
    """The demo's people (not its application) with their fresh tokens: whom the demo's console
    offers to sign in as."""
    tokens = dict(exports)
    return [
        DemoPerson(id=principal_id, name=name, roles=tuple(roles), token=tokens[variable])
        for variable, principal_id, roles, name in _DEMO_PRINCIPALS
        if "application" not in roles and variable in tokens
    ]


def demo_policy_dir() -> Path:
    return Path(str(resources.files("aval.policies").joinpath("demo")))


def write_demo_principals(data_dir: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Writes a principals file with new random tokens (only their hashes are stored).

    Returns the file and the (variable, token) pairs to show the person running the demo.
    """
    folder = data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    exports, principals = [], []
    for variable, principal_id, roles, name in _DEMO_PRINCIPALS:
        token = secrets.token_urlsafe(24)
        exports.append((variable, token))
        principals.append(
            {
                "id": principal_id,
                "tenant": DEMO_TENANT,
                "roles": roles,
                "display_name": name,
                "token_sha256": token_hash(token),
            }
        )
    path = folder / "principals.yaml"
    path.write_text(
        "# Written by `aval serve --demo`: new tokens at every start, only their hashes here.\n"
        + yaml.safe_dump({"principals": principals}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path, exports
