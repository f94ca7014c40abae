"""What tests share: tenants, policies, principals with known tokens, a server process."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2

from aval.clients import Client
from aval.service.ai.egress import EgressPolicy, EndpointRule, TenantEgress
from aval.service.audit.signing import PRIVATE_KEY_NAME, Signer, write_key_pair
from aval.service.identity import token_hash

POLICIES = {
    "ville-a": """
tenant: ville-a
preset: cautious_trial
contact: "Mairie de Ville-A, dpo@ville-a.example"
decision_types:
  voirie.signalement:
    purpose: "orienter les signalements vers le service compétent"
    required_approvals: 1
    deadline: 3d
  aides.attribution:
    purpose: "instruire les demandes d'aide facultative"
    required_approvals: 2
    justification_required_for: [amend, reject]
    deadline: 30d
  express.test:
    purpose: "tester l'expiration"
    required_approvals: 1
    deadline: 2s
  sans.amendement:
    purpose: "tester un type qui interdit l'amendement"
    required_approvals: 1
    allow_amend: false
    deadline: 3d
  signalement.ia:
    purpose: "orienter les signalements vers le service compétent"
    required_approvals: 1
    deadline: 3d
    ai_system: ia-advisor
    output_schema: &service
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete, eclairage, espaces_verts]}
      required: [service]
      additionalProperties: false
  signalement.llm:
    purpose: "orienter les signalements vers le service compétent"
    required_approvals: 1
    deadline: 3d
    ai_system: ia-llm
    output_schema: *service
  permis.risque:
    purpose: "instruire les permis de construire"
    required_approvals: 1
    deadline: 30d
    high_risk: true
    ai_system: ia-permis
    output_schema: *service
""",
    "ville-b": """
tenant: ville-b
preset: assumed_distrust
contact: "Mairie de Ville-B"
decision_types:
  voirie.signalement:
    purpose: "orienter les signalements"
""",
}

# principal id -> (home tenant, roles, extra grants)
PRINCIPALS: dict[str, tuple[str, list[str], list[dict[str, object]]]] = {
    "app-a": ("ville-a", ["application"], []),
    "appsup-a": ("ville-a", ["application", "supervisor"], []),
    "sup-a1": ("ville-a", ["supervisor"], []),
    "sup-a2": ("ville-a", ["supervisor"], []),
    "sup-a3": ("ville-a", ["supervisor"], []),
    "insp-a": ("ville-a", ["inspector"], []),
    "app-b": ("ville-b", ["application"], []),
    "sup-b": ("ville-b", ["supervisor"], []),
    "insp-b": ("ville-b", ["inspector"], []),
    "insp-pool": ("ville-b", ["inspector"], [{"tenant": "ville-a", "roles": ["inspector"]}]),
    "admin-a": ("ville-a", ["admin"], []),
    "admin-a2": ("ville-a", ["admin"], []),
    "admin-b": ("ville-b", ["admin"], []),
    "dpo-a": ("ville-a", ["privacy_officer"], []),
    "dpo-b": ("ville-b", ["privacy_officer"], []),
}


# The operator's AI egress configuration of test servers (AVAL_AI_EGRESS_FILE): the endpoints
# the tests' AI systems use (loopback; 10.0.0.7:50061 is only ever registered, never called)
# and one secret of ville-a, whose variable is left unset.
EGRESS: dict[str, object] = {
    "tenants": {
        "ville-a": {
            "secrets": {"ALBERT_API_KEY": "AVAL_TEST_ALBERT_API_KEY"},
            "endpoints": [
                {"network": "127.0.0.0/8"},
                {"network": "10.0.0.7/32", "ports": [50061]},
            ],
        },
        "ville-b": {"endpoints": [{"network": "127.0.0.0/8"}]},
    }
}


def loopback_egress(tenant: str = "ville-a", secrets: tuple[str, ...] = ()) -> EgressPolicy:
    """An egress policy letting `tenant` reach any port of 127.0.0.1, with `secrets` each read
    from the environment variable of the same name (for the backends' own tests)."""
    loopback = EndpointRule(network=ipaddress.ip_network("127.0.0.1/32"))
    return EgressPolicy(
        {tenant: TenantEgress({s: s for s in secrets}, (loopback,))}, source="tests"
    )


def write_egress(folder: Path, egress: dict[str, object] | None = None) -> Path:
    """Writes an AI egress file (EGRESS unless given) in `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ai-egress.yaml"
    path.write_text(yaml.safe_dump(EGRESS if egress is None else egress), encoding="utf-8")
    return path


def token_of(principal_id: str) -> str:
    return f"test-token-{principal_id}"


def principal_entries() -> list[dict[str, Any]]:
    """The test principals as the entries of a principals file, each with its token's hash."""
    return [
        {
            "id": pid,
            "tenant": tenant,
            "roles": roles,
            "grants": grants,
            "token_sha256": token_hash(token_of(pid)),
        }
        for pid, (tenant, roles, grants) in PRINCIPALS.items()
    ]


def write_config(folder: Path) -> tuple[Path, Path]:
    """Writes the test policies and principals; returns (policy dir, principals file)."""
    policy_dir = folder / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    for tenant, text in POLICIES.items():
        (policy_dir / f"{tenant}.yaml").write_text(text, encoding="utf-8")
    principals_file = folder / "principals.yaml"
    principals_file.write_text(
        yaml.safe_dump({"principals": principal_entries()}), encoding="utf-8"
    )
    return policy_dir, principals_file


# The checkpoint signing key of every test server: one fixed key, as the tokens are fixed, so
# that the checkpoints in a shared test database verify whichever server signed them.
_TEST_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"aval test key").digest())
TEST_SIGNING_KEY = Signer.of(_TEST_KEY)


def write_signing_key(folder: Path) -> tuple[Path, bytes]:
    """Writes the tests' signing key to `folder/keys` (once) for AVAL_SIGNING_KEY_FILE.

    Returns the private key file and the raw public key.
    """
    key_file = folder / "keys" / PRIVATE_KEY_NAME
    if not key_file.exists():
        write_key_pair(key_file.parent, _TEST_KEY)
    return key_file, TEST_SIGNING_KEY.public_key_raw


class ClockFile:
    """The clock of servers started with `extra_env=clock.env`: a test advances it, not sleeps.

    The server adds the file's seconds to its own clock (AVAL_TEST_CLOCK_FILE); they only grow.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / "test-clock"
        self.offset = 0.0
        self._write()

    @property
    def env(self) -> dict[str, str]:
        return {"AVAL_TEST_CLOCK_FILE": str(self.path)}

    def now(self) -> datetime:
        """The servers' time, give or take the moment a call takes."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self._write()

    def advance_to(self, moment: datetime) -> None:
        """Moves the servers' time to `moment` at least (never back)."""
        self.advance(max(0.0, (moment - self.now()).total_seconds()))

    def _write(self) -> None:
        # Replaced whole, so that the server never reads a half-written number.
        new = self.path.with_name(self.path.name + ".new")
        new.write_text(repr(self.offset), encoding="utf-8")
        new.replace(self.path)


@dataclass
class ServerProcess:
    """A real `aval serve` process, on an ephemeral port."""

    process: subprocess.Popen[str]
    address: str
    log_path: Path
    # Raw Ed25519 public key that verifies its checkpoints (empty when it has no key).
    public_key: bytes = b""

    @classmethod
    def start(
        cls,
        database_url: str | None,
        config_dir: Path,
        *,
        name: str = "server",
        extra_env: dict[str, str] | None = None,
        demo: bool = False,
        signing_key: bool = True,
        listen: str = "127.0.0.1:0",
    ) -> ServerProcess:
        policy_dir, principals_file = write_config(config_dir)
        env = {
            **os.environ,
            "AVAL_POLICY_DIR": str(policy_dir),
            "AVAL_PRINCIPALS_FILE": str(principals_file),
            "AVAL_DATA_DIR": str(config_dir / "data"),
            "AVAL_AI_EGRESS_FILE": str(write_egress(config_dir)),
            "AVAL_EXPIRY_INTERVAL_SECONDS": "0.2",
            "AVAL_SHUTDOWN_GRACE_SECONDS": "2",
            "OTEL_TRACES_EXPORTER": "none",
            # No periodic checkpoints unless the test asks (as with the old 300 s default):
            # tests count the checkpoints they make.
            "AVAL_CHECKPOINT_INTERVAL_SECONDS": "0",
            **(extra_env or {}),
        }
        # The tests' checkpoint signing key, unless the test wants none (extra_env still wins).
        env.pop("AVAL_SIGNING_KEY", None)
        env.pop("AVAL_SIGNING_KEY_FILE", None)
        public_key = b""
        if signing_key:
            key_file, public_key = write_signing_key(config_dir)
            env["AVAL_SIGNING_KEY_FILE"] = str(key_file)
        env.update(extra_env or {})
        if demo:
            del env["AVAL_POLICY_DIR"], env["AVAL_PRINCIPALS_FILE"]
            if "AVAL_AI_EGRESS_FILE" not in (extra_env or {}):
                del env["AVAL_AI_EGRESS_FILE"]  # the demo allows its own advisor
        if database_url is None:  # the embedded PostgreSQL, in the data dir
            env.pop("AVAL_DATABASE_URL", None)
        else:
            env["AVAL_DATABASE_URL"] = database_url
        log_path = config_dir / f"{name}.log"
        args = [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", listen]
        if demo:
            args.append("--demo")
        process = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_path.open("w"),
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        address = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.match(r"export AVAL_ADDRESS=(\S+)", line)
            if match:
                address = match[1]
                break
        if not address:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
        return cls(process, address, log_path, public_key)

    def read_exports(self, count: int) -> dict[str, str]:
        """Reads `count` more `export NAME=value` lines printed by the server."""
        assert self.process.stdout is not None
        found = {}
        for _ in range(count):
            name, _, value = (
                self.process.stdout.readline().strip().removeprefix("export ").partition("=")
            )
            found[name] = value
        return found

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


# The kinds of detail a refusal of Aval carries in its google.rpc.Status.
DETAIL_KINDS = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.LocalizedMessage,
    error_details_pb2.BadRequest,
)


def unpacked_details(status: Any) -> list[Any]:
    """The details of a google.rpc.Status, each unpacked to its message, in their order."""
    found = []
    for detail in status.details:
        for kind in DETAIL_KINDS:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
    return found


def serve_refused(database_url: str, folder: Path, **settings: str) -> str:
    """Starts `aval serve` on the test configuration written in `folder`, with `settings`
    (AVAL_* variables) on top; asserts it refuses to start (exit status 2, no traceback);
    returns what it printed on stderr."""
    policy_dir, principals = write_config(folder)
    env = {
        **os.environ,
        "AVAL_DATABASE_URL": database_url,
        "AVAL_POLICY_DIR": str(policy_dir),
        "AVAL_PRINCIPALS_FILE": str(principals),
        "AVAL_DATA_DIR": str(folder / "data"),
        **settings,
    }
    done = subprocess.run(
        [sys.executable, "-m", "aval.clients.cli", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def clients_of(server: ServerProcess) -> Iterator[Callable[[str], Client]]:
    """`get("sup-a1")`: a blocking SDK client of `server` holding that principal's token."""
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        assert principal in PRINCIPALS, principal
        if principal not in clients:
            clients[principal] = Client(server.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()
