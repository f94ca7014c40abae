"""A NUL character in any string field of any RPC is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import functools
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError, UnauthenticatedError
from tests.support import ServerProcess

from ..helpers import PENDING, fields_of, propose_kwargs
from .conftest import NUL_KEY, call, every_rpc, nul_cases, refused, written

pytestmark = pytest.mark.e2e


def test_nul_cases_reach_every_kind_of_string_field() -> None:
    paths = {
        f"{service}.{method}:{path}"
        for service, method, request, _ in every_rpc()
        for path, _ in nul_cases(request)
    }
    # Plain strings, repeated strings, nested and repeated messages, maps, Struct keys and values.
    for expected in (
        "Gateway.Propose:subject_ref",
        "Gateway.Propose:attested_suggestion.model.name",
        "Gateway.Propose:attested_suggestion.factors[0].name",
        "Gateway.Propose:attested_suggestion.sources[1]",
        "Gateway.Propose:input.demande",
        f"Gateway.Propose:input.{NUL_KEY}",
        "Gateway.Propose:attested_suggestion.output.x.y[1]",
        "Review.Decide:amended_output.demande",
        "Review.Decide:justification",
        "Audit.QueryEvents:tenants[1]",
        "Audit.ExportEvents:query.kind",
        f"Admin.RegisterModelVersion:instructions.metrics.{NUL_KEY}",
        "Admin.RegisterModelVersion:instructions.known_limits[1]",
        "Admin.RegisterAISystem:ai_system.versions[0].instructions.intended_purpose",
        "Admin.Stop:reason",
    ):
        assert expected in paths, expected
    assert len(paths) > 100


def test_nul_in_any_string_field_is_invalid_argument_naming_it_I6(
    channel: grpc.Channel, hostile: ServerProcess, as_: Callable[[str], Client], database_url: str
) -> None:
    before = written(database_url)
    tried = 0
    for service, method, request_type, principal in every_rpc():
        for path, setter in nul_cases(request_type):
            request = GetMessageClass(request_type)()
            setter(request)
            # Without a token: authentication comes first, and it is never UNKNOWN.
            send = functools.partial(call, channel, service, method, request)
            refused(UnauthenticatedError, functools.partial(send, None))
            error = refused(InvalidArgumentError, functools.partial(send, principal))
            where = f"{service}.{method}:{path}"
            assert path in fields_of(error), (where, fields_of(error))
            violation = next(v for v in error.violations if v.field == path)
            assert violation.reason == "NUL_CHARACTER", where
            assert "\x00" not in str(error) and "\x00" not in error.localized, where
            tried += 1
    assert tried > 100
    assert written(database_url) == before  # nothing was written by any of them
    # The server is whole: a valid call still works, and nothing failed inside it.
    assert as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision.id
    log = hostile.log_path.read_text()
    assert "Traceback" not in log and "NUL (0x00)" not in log, log[-3000:]


def test_nul_next_to_other_mistakes_is_named_with_them(as_: Callable[[str], Client]) -> None:
    """The SDK's way in: a NUL in a Struct value of a real proposal and of an amendment."""
    app, sup = as_("app-a"), as_("sup-a1")
    error = refused(
        InvalidArgumentError,
        lambda: app.propose(**propose_kwargs(input={"demande": "aide\x00cantine", "n": 1})),
    )
    assert fields_of(error) == ["input.demande"]
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(
            d.id, verdict="amend", amended_output={"service": "voi\x00rie"}, justification="corrigé"
        ),
    )
    assert fields_of(error) == ["amended_output.service"]
    assert sup.get_decision(d.id).state == PENDING and not sup.get_decision(d.id).reviews
