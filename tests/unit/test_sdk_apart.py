"""The SDK stands apart: an application that imports it loads neither the command line nor the
server, its store or their dependencies (issue 11)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import aval.clients
from aval.clients import AsyncClient, Client
refused = ("aval.clients.cli", "aval.service", "aval.audit_store", "aval.policies",
           "psycopg", "casbin", "pydantic")
loaded = sorted(m for m in sys.modules if m.startswith(refused))
print("\\n".join(loaded))
"""


def test_importing_the_sdk_loads_neither_the_command_line_nor_the_server() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == []
