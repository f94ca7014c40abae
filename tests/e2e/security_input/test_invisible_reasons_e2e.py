"""Reasons without a visible character are INVALID_ARGUMENT."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.message import Message

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError
from aval.v1 import admin_pb2, common_pb2, review_pb2

from ..helpers import PENDING, REJECTED, fields_of, propose_kwargs
from .conftest import call, every_rpc, nul_cases, refused, written

pytestmark = pytest.mark.e2e


# --- Item 14: reasons need a visible character ----------------------------------------------------

INVISIBLE = [
    "\u200b",  # zero-width space
    " \u00a0\u3000\t",  # spaces of every width
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width and joiners
    "\u202e\u2066\u2069",  # bidi controls
    "\u0301\u0308",  # combining marks alone
    "\u3164\u115f\u1160\uffa0",  # Hangul fillers
    "\u2800",  # braille blank
    "\u2028\u2029",  # line and paragraph separators
    "\x1b\x07",  # control characters
    "\U000e0041\U000e0042",  # tag characters
    "\u180e\u00ad",  # Mongolian vowel separator, soft hyphen
]


def reason_fields() -> set[str]:
    """Every string of a request the server requires to say why: `Method:path`."""
    found = set()
    names = {"reason", "justification", "intended_purpose"}
    for _, method, request, _ in every_rpc():
        for path, _ in nul_cases(request):
            if path.rsplit(".", 1)[-1] in names and "versions[0]" not in path:
                found.add(f"{method}:{path}")
    return found


def test_reasons_without_a_visible_character_are_invalid_argument(
    as_: Callable[[str], Client], channel: grpc.Channel, database_url: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("texte.libre", suggestion={"a": 1})).decision
    kind = admin_pb2.BackendKind.BACKEND_KIND_ADVISOR
    requests: dict[str, Callable[[str], tuple[str, str, Message]]] = {
        "Decide:justification": lambda text: (
            "Review",
            "Decide",
            review_pb2.DecideRequest(
                decision_id=d.id, verdict=common_pb2.VERDICT_REJECT, justification=text
            ),
        ),
        "RegisterAISystem:reason": lambda text: (
            "Admin",
            "RegisterAISystem",
            admin_pb2.RegisterAISystemRequest(
                ai_system=admin_pb2.AISystem(
                    name=f"vide-{uuid.uuid4().hex[:6]}", kind=kind, endpoint="127.0.0.1:50061"
                ),
                reason=text,
            ),
        ),
        "RegisterModelVersion:instructions.intended_purpose": lambda text: (
            "Admin",
            "RegisterModelVersion",
            admin_pb2.RegisterModelVersionRequest(
                ai_system="orienteur",
                version="v1",
                instructions=admin_pb2.InstructionsForUse(intended_purpose=text),
            ),
        ),
        "RequestPin:reason": lambda text: (
            "Admin",
            "RequestPin",
            admin_pb2.RequestPinRequest(ai_system="orienteur", version="v1", reason=text),
        ),
        "DecidePin:reason": lambda text: (
            "Admin",
            "DecidePin",
            admin_pb2.DecidePinRequest(pin_request_id=str(uuid.uuid4()), approve=True, reason=text),
        ),
        "SetShadow:reason": lambda text: (
            "Admin",
            "SetShadow",
            admin_pb2.SetShadowRequest(ai_system="orienteur", version="v2", reason=text),
        ),
        "Stop:reason": lambda text: (
            "Admin",
            "Stop",
            admin_pb2.StopRequest(scope=admin_pb2.STOP_SCOPE_TENANT, reason=text),
        ),
        "Resume:reason": lambda text: (
            "Admin",
            "Resume",
            admin_pb2.ResumeRequest(scope=admin_pb2.STOP_SCOPE_TENANT, reason=text),
        ),
        "SetReviewerQualification:reason": lambda text: (
            "Admin",
            "SetReviewerQualification",
            admin_pb2.SetReviewerQualificationRequest(
                reviewer_id="sup-a1",
                decision_type="*",
                trained_on="2026-01-01",
                delegated_by="M. le Maire",
                valid_from="2026-01-02",
                valid_until="2026-12-31",
                reason=text,
            ),
        ),
        "RevokeReviewerQualification:reason": lambda text: (
            "Admin",
            "RevokeReviewerQualification",
            admin_pb2.RevokeReviewerQualificationRequest(
                qualification_id=str(uuid.uuid4()), reason=text
            ),
        ),
        "ReloadConfiguration:reason": lambda text: (
            "Admin",
            "ReloadConfiguration",
            admin_pb2.ReloadConfigurationRequest(reason=text),
        ),
    }
    assert set(requests) == reason_fields()  # every reason the contract has is tried
    who = {"Review": "sup-a1", "Admin": "admin-a"}
    before = written(database_url)
    for name, build in requests.items():
        for text in INVISIBLE:
            service, method, request = build(text)
            send = functools.partial(call, channel, service, method, request, who[service])
            error = refused(InvalidArgumentError, send)
            assert name.split(":")[1] in fields_of(error), (name, text)
    assert written(database_url) == before
    assert sup.get_decision(d.id).state == PENDING
    # A visible character among the invisible ones is enough: an accent on a letter, a digit.
    assert sup.decide(d.id, verdict="reject", justification="\u200be\u0301\u200b").state == REJECTED
    admin = as_("admin-a")
    stop = admin.stop_ai("decision_type", "texte.libre", reason="\u200b1\u200b")
    assert stop.stop.reason == "\u200b1\u200b"  # kept as written
    assert admin.resume_ai("decision_type", "texte.libre", reason="fin de l'essai")
