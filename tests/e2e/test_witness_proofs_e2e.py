"""An event's inclusion proof names the witnesses that cosigned its checkpoint: `aval audit
prove --witness` enforces the witness policy as `aval audit verify` does, and the console's
dossier checks the cosignatures against the deployment's witnesses (AVAL_WITNESSES_FILE);
with a real witness process and a real server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape

import pytest

from aval.clients import Client
from tests.console.support import Visitor, assert_well_formed, console_env, console_url
from tests.support import ServerProcess, clients_of

from .helpers import all_events, propose_kwargs, run_cli, superuser, wait_until
from .witnesses import LOG_KEY, WITNESS_NAME, WitnessProcess, start_witnessed_server

pytestmark = pytest.mark.e2e


@dataclass
class Deployment:
    server: ServerProcess
    witness: WitnessProcess
    other_key: str  # a witness's key that never cosigns
    client_of: Callable[[str], Client]
    database_url: str
    console: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.server.address, "insp-a", *args)

    def cosigned_decision(self) -> tuple[str, int, int]:
        """A new decision whose events a checkpoint covers that the witness cosigned: its id,
        the sequence number of its first event and the checkpoint's size."""
        d = self.client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
        seq = all_events(self.client_of("insp-a"), decision_id=d.id)[0].seq
        done = self.cli("--json", "audit", "checkpoint")
        assert done.returncode == 0, done.stderr
        size = int(json.loads(done.stdout)["treeSize"])

        def cosigned() -> bool:
            listed = json.loads(self.cli("--json", "audit", "checkpoints").stdout)
            note = str(listed["checkpoints"][-1]["note"])
            return f"\n{size}\n" in note and WITNESS_NAME in note

        wait_until(cosigned, 30, f"the witness cosigns tree size {size}")
        return d.id, seq, size

    def prove(self, seq: int, *policy: str, json_output: bool = False) -> tuple[int, str]:
        """`aval audit prove SEQ` with the log's key and the policy: exit status, all output."""
        first = ("--json",) if json_output else ()
        key = LOG_KEY.public_key.hex()
        done = self.cli(*first, "audit", "prove", str(seq), "--public-key", key, *policy)
        return done.returncode, done.stdout + done.stderr

    def dossier(self, decision_id: str) -> str:
        visitor = Visitor(self.console)
        try:
            visitor.sign_in("insp-a")
            page = visitor.get(f"/inspection/decisions/{decision_id}?purpose=contr%C3%B4le+7")
            assert page.status_code == 200, page.text[:500]
            assert_well_formed(page)
            return unescape(page.text)
        finally:
            visitor.close()


@pytest.fixture(scope="module")
def deployment(
    new_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("witnessed-proofs")
    url = new_database()
    started = start_witnessed_server(folder, url, console_env(folder / "console"))
    server, witness = started.server, started.witness
    try:
        console = console_url(server)
        for client_of in clients_of(server):
            yield Deployment(server, witness, started.other_key, client_of, url, console)
    finally:
        assert server.stop() == 0, server.log_path.read_text()
        assert witness.stop() == 0


def test_prove_with_the_witness_quorum_met_names_who_cosigned(deployment: Deployment) -> None:
    _, seq, size = deployment.cosigned_decision()
    own = deployment.witness.key
    status, out = deployment.prove(seq, "--witness", own)
    assert status == 0, out
    assert f"— {WITNESS_NAME} (clé " in out and ") : vérifiée" in out
    assert f"Témoins : le point de contrôle de {size} événement(s) est contresigné" in out
    # Any one of two trusted witnesses is enough by default.
    status, out = deployment.prove(seq, "--witness", own, "--witness", deployment.other_key)
    assert status == 0, out
    # Without a policy, who cosigned is shown, not checked.
    status, out = deployment.prove(seq)
    assert status == 0, out
    assert f"— {WITNESS_NAME} (clé " in out and "non vérifiée (passez --witness CLÉ)" in out
    status, out = deployment.prove(seq, "--witness", own, json_output=True)
    assert status == 0, out
    document = json.loads(out)
    assert document["verified"] is True and document["witnessProblems"] == []
    assert [(c["witness"], c["trusted"], c["verified"]) for c in document["cosignatures"]] == [
        (WITNESS_NAME, True, True)
    ]


def test_prove_fails_when_the_witness_policy_is_not_met(deployment: Deployment) -> None:
    _, seq, size = deployment.cosigned_decision()
    own, other = deployment.witness.key, deployment.other_key
    for policy in (
        ["--witness", other, "--witness-quorum", "1"],
        ["--witness", own, "--witness", other, "--witness-quorum", "2"],
    ):
        status, out = deployment.prove(seq, *policy)
        assert status == 1, out
        assert f"witness_quorum_not_met — collectivité ville-a, événement n° {size}" in out
        assert f"the checkpoint of {size} events (the latest checked) is not cosigned" in out
        assert "politique de témoins non satisfaite : 1 problème(s)" in out
    # An unusable policy is refused as `audit verify` refuses it.
    status, out = deployment.prove(seq, "--witness", LOG_KEY.text())
    assert status == 1 and "politique de témoins invalide" in out and "0x04" in out
    status, out = deployment.prove(seq, "--witness", own, "--witness-quorum", "3")
    assert status == 1 and "--witness-quorum" in out


def test_the_dossier_shows_the_cosignatures_checked_against_the_deployments_witnesses(
    deployment: Deployment,
) -> None:
    decision_id, _, _ = deployment.cosigned_decision()
    html = deployment.dossier(decision_id)
    assert "Cosignatures de témoins du point de contrôle (1)" in html
    assert WITNESS_NAME in html
    assert "vérifiée avec la clé d'un témoin de la collectivité" in html
    assert "INVALIDE" not in html and "Pas encore contresigné" not in html


def test_a_tampered_cosignature_fails_the_proof_and_shows_invalid_in_the_dossier(
    deployment: Deployment,
) -> None:
    decision_id, seq, size = deployment.cosigned_decision()
    with superuser(deployment.database_url) as conn:
        row = conn.execute(
            "SELECT signature FROM aval.checkpoint_cosignatures"
            " WHERE tenant_id = 'ville-a' AND tree_size = %s",
            (size,),
        ).fetchone()
        assert row is not None
        forged = bytearray(row[0])
        forged[-1] ^= 1
        conn.execute(
            "UPDATE aval.checkpoint_cosignatures SET signature = %s"
            " WHERE tenant_id = 'ville-a' AND tree_size = %s",
            (bytes(forged), size),
        )
    status, out = deployment.prove(seq, "--witness", deployment.witness.key)
    assert status == 1, out
    assert f"bad_cosignature — collectivité ville-a, événement n° {size}" in out
    assert f"the cosignature of witness {WITNESS_NAME} does not verify" in out
    assert "witness_quorum_not_met" in out
    html = deployment.dossier(decision_id)
    assert "INVALIDE pour la clé de ce témoin de la collectivité (bad_cosignature)" in html
    assert "vérifiée avec la clé" not in html
