"""An exported bundle verifies offline, in a process with no database and no server (I3)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.support import ServerProcess

from .conftest import ClientOf
from .helpers import propose_kwargs, run_cli

NO_SERVER = "127.0.0.1:9"  # nothing listens there: offline verification must not need it


def _export(server: ServerProcess, client_of: ClientOf, folder: Path) -> None:
    decision = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    client_of("sup-a3").decide(decision.id, verdict="approve")
    assert run_cli(server.address, "insp-a", "audit", "checkpoint").returncode == 0
    exported = run_cli(server.address, "insp-a", "audit", "export", "--bundle", str(folder))
    assert exported.returncode == 0, exported.stderr
    assert {p.name for p in folder.iterdir()} == {
        "events.jsonl",
        "checkpoints.jsonl",
        "public_key.txt",
        "manifest.json",
        "README.md",
    }


def _verify_offline(folder: Path, public_key: str) -> tuple[int, str, str]:
    done = run_cli(
        NO_SERVER, None, "audit", "verify", "--offline", str(folder), "--public-key", public_key
    )
    return done.returncode, done.stdout, done.stderr


def test_bundle_verifies_offline_and_tampering_is_caught(
    server: ServerProcess, client_of: ClientOf, tmp_path: Path
) -> None:
    folder = tmp_path / "bundle"
    _export(server, client_of, folder)
    key = server.public_key.hex()
    status, out, err = _verify_offline(folder, key)
    assert status == 0, out + err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["events"] > 0 and manifest["checkpoints"] > 0

    # Another key than the deployment's: the checkpoints' signatures no longer verify.
    status, out, _ = _verify_offline(folder, "00" * 32)
    assert status == 1 and "bad_signature" in out

    # One event's bytes changed in transit.
    # Split on "\n" only: JSON strings may hold U+0085 or U+2028, which splitlines() breaks on.
    lines = (folder / "events.jsonl").read_text().removesuffix("\n").split("\n")
    event = json.loads(lines[1])
    canonical = base64.b64decode(event["canonical"]).replace(b'"kind":"', b'"kind":"x', 1)
    event["canonical"] = base64.b64encode(canonical).decode()
    lines[1] = json.dumps(event)
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    status, out, err = _verify_offline(folder, key)
    assert status == 1
    assert "hash_mismatch" in out and "file_changed" in out
    assert "à l'événement n° 2" in err  # the one-line reason names the first bad event
