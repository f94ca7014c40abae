"""Policies and grants reload without a restart (ReloadConfiguration, SIGHUP), in every worker
process; an invalid file is refused with its file, line and fix, and the configuration in
force is kept; each reload is an audited admin event naming the new revisions."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.calls import propose as propose_call
from aval.clients.sdk.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    PermissionDeniedError,
    UnauthenticatedError,
    from_rpc_error,
)
from aval.v1 import gateway_pb2_grpc
from tests.support import ServerProcess, token_of

from ..helpers import all_events, propose_kwargs
from .helpers import write_policies

pytestmark = pytest.mark.e2e

NEW_TYPE = "nouveau.type"
NEW = f"""
  {NEW_TYPE}:
    purpose: "tester le rechargement"
    required_approvals: 1
    deadline: 3d
"""


def _start(database_url: str, folder: Path, **env: str) -> tuple[ServerProcess, Path]:
    policies = write_policies(folder / "reload-policies", "")
    server = ServerProcess.start(
        database_url, folder, name="reload", extra_env={"AVAL_POLICY_DIR": str(policies), **env}
    )
    return server, policies / "ville-a.yaml"


def _clients(server: ServerProcess) -> Any:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(server.address, token_of(principal), timeout=20)
        return clients[principal]

    return get, clients


def _reload_events(client: Client, since: datetime) -> list[dict[str, Any]]:
    """The reloads recorded since `since` (the tests' servers share one database)."""
    return [
        {"actor": e.actor_id, **json_format.MessageToDict(e.data)}
        for e in all_events(client, kind="admin.configuration_reloaded", since=since)
    ]


def test_a_policy_change_applies_without_restart_and_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    since = datetime.now(UTC)
    server, ville_a = _start(database_url, tmp_path)
    get, clients = _clients(server)
    try:
        before = get("app-a").propose(**propose_kwargs("voirie.signalement")).decision
        with pytest.raises(InvalidArgumentError):
            get("app-a").propose(**propose_kwargs(NEW_TYPE))
        unchanged = get("admin-a").reload_configuration(reason="rien de neuf")
        assert not unchanged.changed and not _reload_events(get("insp-a"), since)

        ville_a.write_text(ville_a.read_text(encoding="utf-8") + NEW, encoding="utf-8")
        done = get("admin-a").reload_configuration(reason="nouveau type de décision")
        assert done.changed
        policies = next(p for p in done.parts if p.name == "policies")
        revision = policies.revisions[f"ville-a/{NEW_TYPE}"]
        assert policies.changed and revision.startswith("sha256:")
        decision = get("app-a").propose(**propose_kwargs(NEW_TYPE)).decision
        assert decision.policy_revision == revision
        # A decision keeps the revision it was proposed under.
        assert get("app-a").get_decision(before.id).policy_revision != revision
        (event,) = _reload_events(get("insp-a"), since)
        assert event["actor"] == "admin-a" and event["reason"] == "nouveau type de décision"
        recorded = {p["part"]: p for p in event["parts"]}
        assert recorded["policies"]["revisions"][f"ville-a/{NEW_TYPE}"] == revision
        assert all(name.startswith("ville-a/") for name in recorded["policies"]["revisions"])
        assert _reload_events(get("insp-b"), since)  # every tenant's trail records it
        # SIGHUP does the same, recorded as the operator's act.
        ville_a.write_text(ville_a.read_text(encoding="utf-8").replace(NEW, ""), encoding="utf-8")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while len(_reload_events(get("insp-a"), since)) < 2:
            assert time.monotonic() < deadline, server.log_path.read_text()
            time.sleep(0.1)
        assert _reload_events(get("insp-a"), since)[-1]["actor"] == "operator:SIGHUP"
        with pytest.raises(InvalidArgumentError):
            get("app-a").propose(**propose_kwargs(NEW_TYPE))
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()


def test_an_invalid_file_is_refused_with_its_line_and_the_old_configuration_is_kept(
    database_url: str, tmp_path: Path
) -> None:
    since = datetime.now(UTC)
    server, ville_a = _start(database_url, tmp_path)
    get, clients = _clients(server)
    try:
        good = ville_a.read_text(encoding="utf-8")
        bad = good + NEW.replace("required_approvals: 1", "required_approvals: 0")
        ville_a.write_text(bad, encoding="utf-8")
        line = bad.splitlines().index("    required_approvals: 0") + 1
        with pytest.raises(FailedPreconditionError) as caught:
            get("admin-a").reload_configuration(reason="erreur de saisie")
        error = caught.value
        assert error.reason == "CONFIGURATION_INVALID"
        assert str(ville_a) in error.message and f"line {line}" in error.message
        assert "fix:" in error.message and "I1" in error.message
        assert "conservée" in error.localized
        with pytest.raises(InvalidArgumentError):
            get("app-a").propose(**propose_kwargs(NEW_TYPE))
        get("app-a").propose(**propose_kwargs("voirie.signalement"))
        assert not _reload_events(get("insp-a"), since)
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()


def test_only_an_administrator_reloads(database_url: str, tmp_path: Path) -> None:
    server, _ = _start(database_url, tmp_path)
    get, clients = _clients(server)
    try:
        for principal in ("sup-a1", "app-a", "insp-a"):
            with pytest.raises(PermissionDeniedError):
                get(principal).reload_configuration(reason="essai")
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()


def test_a_grants_change_applies_without_restart(database_url: str, tmp_path: Path) -> None:
    grants = tmp_path / "grants.csv"
    packaged = Path(__file__).resolve().parents[3] / "aval" / "policies" / "grants.csv"
    text = packaged.read_text(encoding="utf-8")
    grants.write_text(text, encoding="utf-8")
    server, _ = _start(database_url, tmp_path, AVAL_GRANTS_FILE=str(grants))
    get, clients = _clients(server)
    try:
        get("insp-a").get_usage()
        grants.write_text(text.replace("p, inspector, *, admin.usage\n", ""), encoding="utf-8")
        done = get("admin-a").reload_configuration(reason="retrait d'un droit")
        assert [p.name for p in done.parts if p.changed] == ["grants"]
        with pytest.raises(PermissionDeniedError):
            get("insp-a").get_usage()
        grants.write_text(text + "g, insp-a, admin, *\n", encoding="utf-8")
        with pytest.raises(FailedPreconditionError) as caught:
            get("admin-a").reload_configuration(reason="erreur")
        assert caught.value.reason == "CONFIGURATION_INVALID"
        assert str(grants) in caught.value.message
        assert "line" in caught.value.message
        with pytest.raises(PermissionDeniedError):  # still the last valid grants
            get("insp-a").get_usage()
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()


def _proposes_everywhere(server: ServerProcess, decision_type: str, tries: int = 8) -> None:
    """Proposes on `tries` fresh connections, which the kernel spreads among the workers."""
    app = [("authorization", f"Bearer {token_of('app-a')}")]
    for _ in range(tries):
        channel = grpc.insecure_channel(
            server.address, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        try:
            request = propose_call(**propose_kwargs(decision_type)).request
            gateway_pb2_grpc.GatewayStub(channel).Propose(request, metadata=app, timeout=30)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            channel.close()


def _reloaded_pids(server: ServerProcess, count: int, timeout: float = 20) -> set[str]:
    deadline = time.monotonic() + timeout
    found: set[str] = set()
    while time.monotonic() < deadline:
        log = server.log_path.read_text(encoding="utf-8")
        found = set(re.findall(r" (\d+) aval: configuration reloaded", log))
        if len(found) >= count:
            break
        time.sleep(0.1)
    return found


def test_with_two_workers_both_reload_on_a_call_and_on_sighup(
    database_url: str, tmp_path: Path
) -> None:
    since = datetime.now(UTC)
    server, ville_a = _start(database_url, tmp_path, AVAL_WORKERS="2")
    get, clients = _clients(server)
    try:
        good = ville_a.read_text(encoding="utf-8")
        ville_a.write_text(good + NEW, encoding="utf-8")
        assert get("admin-a").reload_configuration(reason="deux processus").changed
        assert len(_reloaded_pids(server, 2)) == 2, server.log_path.read_text()
        _proposes_everywhere(server, NEW_TYPE)
        # SIGHUP to the supervising process: one worker reloads and tells the other.
        ville_a.write_text(good, encoding="utf-8")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while len(re.findall("configuration reloaded", server.log_path.read_text())) < 4:
            assert time.monotonic() < deadline, server.log_path.read_text()
            time.sleep(0.1)
        for _ in range(8):
            with pytest.raises(InvalidArgumentError):
                _proposes_everywhere(server, NEW_TYPE, tries=1)
        events = _reload_events(get("insp-a"), since)
        assert [e["actor"] for e in events] == ["admin-a", "operator:SIGHUP"]
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()


def test_a_token_revoked_in_the_principals_file_is_refused_after_a_reload(
    database_url: str, tmp_path: Path
) -> None:
    """Revocation without a restart: the principals file is one of the reloaded parts; an
    invalid principals file is refused like a policy, and the one in force kept."""
    server, _ = _start(database_url, tmp_path)
    get, clients = _clients(server)
    principals = tmp_path / "principals.yaml"
    try:
        assert get("sup-a2").list_queue() is not None
        document = yaml.safe_load(principals.read_text(encoding="utf-8"))
        valid = principals.read_text(encoding="utf-8")
        principals.write_text("principals:\n  - id: [\n", encoding="utf-8")
        with pytest.raises(FailedPreconditionError) as refused:
            get("admin-a").reload_configuration(reason="fichier des mandants cassé")
        assert "principals.yaml" in str(refused.value)
        assert get("sup-a2").list_queue() is not None  # the file in force stays
        principals.write_text(valid, encoding="utf-8")

        for entry in document["principals"]:
            if entry["id"] == "sup-a2":
                entry["revoked"] = True
        principals.write_text(yaml.safe_dump(document), encoding="utf-8")
        done = get("admin-a").reload_configuration(reason="départ de l'agent sup-a2")
        assert "principals" in [part.name for part in done.parts if part.changed]
        with pytest.raises(UnauthenticatedError) as caught:
            get("sup-a2").list_queue()
        assert caught.value.reason == "CREDENTIAL_REVOKED"
        assert get("sup-a1").list_queue() is not None  # the others are untouched
    finally:
        for client in clients.values():
            client.close()
        assert server.stop() == 0, server.log_path.read_text()
