"""Runs mypy --strict over the aval package as it is installed (generated code excluded).

The top-level folders are mapped onto the `aval` package by pyproject's package-dir, which mypy
cannot follow; this builds the same tree out of symbolic links under build/typecheck and checks
that.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"
PACKAGES = {
    "aval/__init__.py": "proto/aval/__init__.py",
    "aval/py.typed": "proto/aval/py.typed",
    "aval/v1": "proto/aval/v1",
    "aval/service": "service",
    "aval/audit_store": "audit_store",
    "aval/policies": "policies",
    "aval/clients": "clients",
}


def main() -> int:
    for name, target in PACKAGES.items():
        link = TREE / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT / target)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "-p",
        "aval.service",
        "-p",
        "aval.audit_store",
        "-p",
        "aval.policies",
        "-p",
        "aval.clients",
    ]
    return subprocess.run(command, cwd=TREE, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
