"""`aval.verifier` stands alone: with the server's and the SDK's libraries refused, every one
of its modules imports and it verifies a bundle the gateway exported (I3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ServerProcess

from .conftest import ClientOf
from .test_bundle_e2e import _export

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: a meta-path hook refuses what the verifier must not need, then
# every module of the package is imported and the bundle verified.
_PURE = """
import importlib, json, pkgutil, sys
from pathlib import Path

REFUSED = ("grpc", "psycopg", "psycopg_pool", "casbin", "pydantic", "google",
           "aval.service", "aval.audit_store", "aval.clients", "aval.v1", "aval.policies")

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == r or name.startswith(r + ".") for r in REFUSED):
            raise ImportError(f"the verifier must not import {name}")
        return None

sys.meta_path.insert(0, Refuse())
import aval.verifier
for module in pkgutil.walk_packages(aval.verifier.__path__, "aval.verifier."):
    importlib.import_module(module.name)
from aval.verifier.bundle import verify_bundle
from aval.verifier.notes import parse_note, read_public_key, verify_signature

folder, key = Path(sys.argv[1]), read_public_key(sys.argv[2])
reports = verify_bundle(
    folder, public_key=key, signature_ok=verify_signature, parse_note=parse_note
)
loaded = sorted(m for m in sys.modules if any(m == r or m.startswith(r + ".") for r in REFUSED))
print(json.dumps({
    "ok": [r.ok for r in reports],
    "events": sum(r.events_checked for r in reports),
    "checkpoints": sum(r.checkpoints_checked for r in reports),
    "loaded": loaded,
}))
"""


def test_the_verifier_verifies_a_bundle_with_nothing_but_itself(
    server: ServerProcess, client_of: ClientOf, tmp_path: Path
) -> None:
    folder = tmp_path / "bundle"
    _export(server, client_of, folder)
    done = subprocess.run(
        [sys.executable, "-c", _PURE, str(folder), server.public_key.hex()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["ok"] == [True]
    assert outcome["events"] > 0 and outcome["checkpoints"] > 0
    assert outcome["loaded"] == []
