"""The purpose a caller gives (x-aval-purpose) is checked before anything is read: a hostile one
is refused, nothing read nor journaled, and what is stored is the decoded, printable text (R13)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import grpc
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError, ResourceExhaustedError, from_rpc_error
from aval.v1 import gateway_pb2, gateway_pb2_grpc
from tests.support import ServerProcess, token_of

from ..helpers import propose_kwargs
from .conftest import journal_of

pytestmark = pytest.mark.e2e

As = Callable[[str], Client]

HOSTILE = {
    "nul": "%00dossier",
    "newline": "dossier%0Aforg%C3%A9",
    "zero_width_space": "dossier%E2%80%8B42",
    "bidi_override": "%E2%80%AEdossier",
    "bom": "%EF%BB%BFdossier",
    "tag_character": "dossier%F3%A0%80%81",
    "not_utf8": "dossier%FF",
    "lone_surrogate": "%ED%A0%80",
    "one_too_long": "a" * 201,
    "huge": "a" * 5_000,  # under gRPC's metadata limits (8 KiB soft), so the gateway sees it
}


def _get(server: ServerProcess, decision_id: str, *purposes: str) -> None:
    metadata = [("authorization", f"Bearer {token_of('sup-a1')}")]
    metadata += [("x-aval-purpose", value) for value in purposes]
    with grpc.insecure_channel(server.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        try:
            stub.GetDecision(
                gateway_pb2.GetDecisionRequest(decision_id=decision_id),
                metadata=metadata,
                timeout=10,
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_purpose_is_refused_and_nothing_journaled_R13(
    as_: As, journal_server: ServerProcess, value: str
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    with pytest.raises(InvalidArgumentError) as refused:
        _get(journal_server, decision.id, value)
    [violation] = refused.value.violations
    assert (violation.field, violation.reason) == ("metadata.x-aval-purpose", "PURPOSE_TEXT")
    assert journal_of(as_("dpo-a"), decision_id=decision.id) == []


def test_a_purpose_past_grpcs_metadata_limit_is_refused_by_the_transport_R13(
    as_: As, journal_server: ServerProcess
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    with pytest.raises(ResourceExhaustedError):
        _get(journal_server, decision.id, "a" * 100_000)
    assert journal_of(as_("dpo-a"), decision_id=decision.id) == []


def test_a_purpose_sent_twice_is_refused_R13(as_: As, journal_server: ServerProcess) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    with pytest.raises(InvalidArgumentError):
        _get(journal_server, decision.id, "un", "deux")
    assert journal_of(as_("dpo-a"), decision_id=decision.id) == []


def test_a_purpose_is_stored_decoded_at_200_characters_and_blank_is_none_R13(
    as_: As, journal_server: ServerProcess
) -> None:
    decision = as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    longest = "é" * 199 + "!"
    _get(journal_server, decision.id, quote(longest, safe=""))
    _get(journal_server, decision.id, "%20%20%20")
    _get(journal_server, decision.id, quote("  e\u0301tude  ", safe=""))  # NFC, spaces trimmed
    purposes = [r.purpose for r in journal_of(as_("dpo-a"), decision_id=decision.id)]
    assert purposes == [longest, "", "\u00e9tude"]
