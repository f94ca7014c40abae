"""A witness run as another authority would run it (`aval witness serve`, its own process), for
the end-to-end tests of witnessing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from aval.verifier import signed_note
from aval.verifier.signed_note import VerifierKey
from tests.support import TEST_SIGNING_KEY, ServerProcess

from .helpers import run_cli

WITNESS_NAME = "prefecture.example.fr/temoin"
LOG_NAME = f"aval-{TEST_SIGNING_KEY.key_id}"
ORIGIN = f"{LOG_NAME}/ville-a"
LOG_KEY = VerifierKey(LOG_NAME, signed_note.ED25519, TEST_SIGNING_KEY.public_key_raw)
NO_SERVER = "127.0.0.1:9"


def generate_witness_key(folder: Path, name: str) -> tuple[Path, str]:
    """`aval keys generate --witness NAME`: the private key file and the verifier key string."""
    done = run_cli(
        NO_SERVER, None, "--json", "keys", "generate", "--out", str(folder), "--witness", name
    )
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    return Path(made["private_key_file"]), str(made["verifier_key"])


@dataclass
class WitnessProcess:
    process: subprocess.Popen[str]
    url: str
    key: str

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=30)


def start_witness(
    folder: Path, key_file: Path, logs: Path, listen: str = "127.0.0.1:0"
) -> WitnessProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAL_")}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "aval.clients.cli", "witness", "serve"),
            *("--listen", listen, "--name", WITNESS_NAME, "--key", str(key_file)),
            *("--logs", str(logs), "--state", str(folder / "state")),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(folder / "witness.log").open("a"),
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip().removeprefix("export AVAL_WITNESS_URL=")
    key = process.stdout.readline().strip().removeprefix("export AVAL_WITNESS_KEY=")
    assert url.startswith("http://127.0.0.1:"), (folder / "witness.log").read_text()
    return WitnessProcess(process, url, key)


@dataclass
class WitnessedServer:
    """A gateway that submits its checkpoints to a witness, as its AVAL_WITNESSES_FILE says."""

    server: ServerProcess
    witness: WitnessProcess
    other_key: str  # a witness's key that never cosigns
    key_file: Path  # the witness's private key
    logs: Path  # the logs the witness follows


def start_witnessed_server(
    folder: Path, url: str, extra_env: dict[str, str] | None = None
) -> WitnessedServer:
    """A witness following Aval's log, and a gateway on `url` that submits each checkpoint to
    it (checkpoints only when asked; a failed submission retried every half second)."""
    key_file, _ = generate_witness_key(folder / "witness-key", WITNESS_NAME)
    _, other_key = generate_witness_key(folder / "other-key", "inspection.example.fr/temoin")
    logs = folder / "logs.txt"
    logs.write_text(f"# Aval of the commune\n{LOG_NAME}/* {LOG_KEY.text()}\n", encoding="utf-8")
    witness = start_witness(folder, key_file, logs)
    witnesses = folder / "witnesses.yaml"
    entry = {"name": "préfecture", "url": witness.url, "key": witness.key}
    witnesses.write_text(yaml.safe_dump({"witnesses": [entry]}), encoding="utf-8")
    server = ServerProcess.start(
        url,
        folder / "server",
        extra_env={
            **(extra_env or {}),
            "AVAL_WITNESSES_FILE": str(witnesses),
            "AVAL_CHECKPOINT_INTERVAL_SECONDS": "0",
            "AVAL_WITNESS_CATCH_UP_SECONDS": "0.5",
            "AVAL_WITNESS_ATTEMPTS": "1",
        },
    )
    return WitnessedServer(server, witness, other_key, key_file, logs)
