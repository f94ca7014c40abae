"""What a PHP application with no gRPC stack does (issue 13): it proposes over HTTP/JSON, a
supervisor approves, and the outcome reaches the application's webhook, whose signature it
checks the way PHP would (`hash_hmac('sha256', "$id.$timestamp.$body", $key, true)`, base64,
`hash_equals`). A receiver that is down gets the outcome later, once.

Nothing of Aval's client code is used on the application's side: http.client and hmac only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.e2e.http_door.conftest import Http
from tests.e2e.webhooks.conftest import KEY, KEY_B, WEBHOOK_ENV, Receiver, webhook_egress
from tests.support import ServerProcess, write_egress

pytestmark = pytest.mark.e2e


def php_verify(key: bytes, headers: dict[str, str], body: bytes) -> bool:
    """The PHP recipe of docs/webhooks.md, line for line."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.partition(",")[2] for s in headers["webhook-signature"].split()]
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, o) for o in offered)


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    up, down = Receiver(), Receiver(listening=False)
    yield up, down
    up.close()
    down.close()


@pytest.fixture(scope="module")
def door(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    receivers: tuple[Receiver, Receiver],
) -> Iterator[Http]:
    folder = tmp_path_factory.mktemp("php-client")
    up, down = receivers
    egress = write_egress(folder / "egress", webhook_egress(up.url, down.url))
    process = ServerProcess.start(
        database_url,
        folder,
        name="php-client",
        extra_env={
            "AVAL_HTTP_LISTEN": "127.0.0.1:0",
            "AVAL_AI_EGRESS_FILE": str(egress),
            **WEBHOOK_ENV,
        },
    )
    yield Http(process.read_exports(1)["AVAL_HTTP_ADDRESS"])
    assert process.stop() == 0, process.log_path.read_text()


def _proposal() -> dict[str, Any]:
    return {
        "decisionType": "voirie.signalement",
        "subjectRef": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"description": "nid-de-poule avenue Jean Jaurès", "numero": 3},
        "idempotencyKey": str(uuid.uuid4()),
        "attestedSuggestion": {
            "output": {"service": "voirie"},
            "confidence": 0.8,
            "explanation": "mot-clé nid-de-poule",
            "model": {"name": "tri-mots-cles", "version": "1.0"},
        },
    }


def _propose_and_decide(
    door: Http, application: str, supervisor: str, verdict: str = "VERDICT_APPROVE"
) -> str:
    proposed = door.call("/aval.v1.Gateway/Propose", _proposal(), application)
    assert proposed.status == 200, proposed.body
    decision_id = str(proposed.json["decision"]["id"])
    approved = door.call(
        "/aval.v1.Review/Decide",
        {
            "decisionId": decision_id,
            "verdict": verdict,
            "justification": "nid-de-poule confirmé sur place",
        },
        supervisor,
    )
    assert approved.status == 200, approved.body
    return decision_id


def test_a_php_application_proposes_over_http_and_gets_a_signed_outcome(
    door: Http, receivers: tuple[Receiver, Receiver]
) -> None:
    up, _ = receivers
    decision_id = _propose_and_decide(door, "app-a", "sup-a1")
    [(headers, body)] = up.wait_for(decision_id)
    assert php_verify(KEY, headers, body)
    assert not php_verify(KEY, headers, body.replace(b"APPROVED", b"REJECTED"))
    assert not php_verify(b"une autre cle de trente-deux octets!", headers, body)
    payload = json.loads(body)
    assert payload["data"]["decision_id"] == decision_id
    assert payload["data"]["state"] == "APPROVED"
    assert payload["data"]["validated_by"] == ["sup-a1"]
    # What the application reads over HTTP agrees with what it was told.
    read = door.call("/aval.v1.Gateway/GetDecision", {"decisionId": decision_id}, "app-a")
    assert read.json["decision"]["outcome"] == payload["data"]["outcome"]
    time.sleep(1.0)
    assert len(up.deliveries(decision_id)) == 1


def _outbox_rows(database_url: str, decision_id: str) -> list[tuple[Any, ...]]:
    """The decision's outbox rows, to show when a delivery did not come."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT attempts, next_attempt_at, delivered_at, dead_at, last_error"
            " FROM aval.webhook_outbox WHERE decision_id = %s",
            (decision_id,),
        ).fetchall()


def test_a_php_receiver_that_is_down_gets_the_outcome_later_once(
    door: Http, receivers: tuple[Receiver, Receiver], database_url: str
) -> None:
    _, down = receivers
    # ville-b's policy wants two approvals: one rejection is final.
    decision_id = _propose_and_decide(door, "app-b", "sup-b", "VERDICT_REJECT")
    time.sleep(1.5)  # a few attempts fail while nobody listens
    assert down.deliveries(decision_id) == []
    down.open()
    try:
        [(headers, body)] = down.wait_for(decision_id, seconds=30)
    except AssertionError as missing:
        rows = _outbox_rows(database_url, decision_id)
        raise AssertionError(f"{missing}; outbox: {rows}") from missing
    assert php_verify(KEY_B.encode(), headers, body)
    time.sleep(1.5)  # later attempts would have come by now
    assert len(down.deliveries(decision_id)) == 1
