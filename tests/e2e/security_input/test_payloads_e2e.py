"""JSON payloads over the limit or outside the output schema are refused; a service outside the
enum is never released."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from aval.clients import Client
from aval.clients.sdk.errors import InvalidArgumentError

from ..helpers import AMENDED, PENDING, fields_of, propose_kwargs
from .conftest import LIMIT, SCHEMA_BREACHES, VALID_RICH, every_rpc, refused, written

pytestmark = pytest.mark.e2e


# --- Item 10: JSON payloads: size limit and output schema ---------------------------------------


def struct_paths(descriptor: Descriptor, prefix: str = "") -> Iterator[str]:
    for field in descriptor.fields:
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.GetOptions().map_entry:
            continue
        if field.message_type.full_name == "google.protobuf.Struct":
            yield prefix + field.name
        elif not field.message_type.full_name.startswith("google.protobuf."):
            yield from struct_paths(field.message_type, f"{prefix}{field.name}.")


def test_every_json_payload_over_the_limit_is_invalid_argument(
    as_: Callable[[str], Client], database_url: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    big = {"texte": "x" * (LIMIT + 10)}
    pending = [app.propose(**propose_kwargs("voirie.signalement")).decision for _ in range(2)]
    attempts: dict[str, Callable[[], Any]] = {
        "Propose:input": lambda: app.propose(**propose_kwargs("voirie.signalement", input=big)),
        "Propose:attested_suggestion.output": lambda: app.propose(
            **propose_kwargs("voirie.signalement", suggestion=big)
        ),
        "Decide:amended_output": lambda: sup.decide(
            pending[0].id, verdict="amend", amended_output=big, justification="corrigé"
        ),
        "RecordView:output": lambda: sup.record_view(pending[0].id, verdict="amend", output=big),
    }
    # Every JSON a caller can send is here: the test names them all.
    carried = {
        f"{method}:{path}"
        for _, _, method, request, _ in [(None, *rpc) for rpc in every_rpc()]
        for path in struct_paths(request)
    }
    assert carried == set(attempts)
    before = written(database_url)
    for name, attempt in attempts.items():
        error = refused(InvalidArgumentError, attempt)
        assert fields_of(error) == [name.split(":")[1]], name
        assert error.violations[0].reason == "TOO_LARGE", name
    assert written(database_url) == before
    assert sup.get_decision(pending[0].id).state == PENDING
    # A byte under the limit is accepted for an amendment as for an input.
    fits = {"texte": "x" * (LIMIT - 100)}
    assert (
        sup.decide(
            pending[1].id, verdict="amend", amended_output=fits, justification="corrigé"
        ).state
        == AMENDED
    )


@pytest.mark.parametrize(
    ("kind", "output", "path"), SCHEMA_BREACHES, ids=[c[0] for c in SCHEMA_BREACHES]
)
def test_attested_suggestion_outside_the_output_schema_is_invalid_argument(
    as_: Callable[[str], Client], kind: str, output: dict[str, Any], path: str
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("app-a").propose(**propose_kwargs("formulaire.riche", suggestion=output)),
    )
    assert fields_of(error) == [f"attested_suggestion.output.{path}"], kind
    assert error.violations[0].reason == "OUTPUT_SCHEMA", kind


@pytest.mark.parametrize(
    ("kind", "output", "path"), SCHEMA_BREACHES, ids=[c[0] for c in SCHEMA_BREACHES]
)
def test_amendment_outside_the_output_schema_is_invalid_argument(
    as_: Callable[[str], Client], kind: str, output: dict[str, Any], path: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("formulaire.riche", suggestion=VALID_RICH)).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(d.id, verdict="amend", amended_output=output, justification="corrigé"),
    )
    assert fields_of(error) == [f"amended_output.{path}"], kind
    assert error.violations[0].reason == "OUTPUT_SCHEMA", kind
    after = sup.get_decision(d.id)
    assert after.state == PENDING and not after.reviews and after.version == d.version


def test_outputs_inside_the_schema_are_accepted(as_: Callable[[str], Client]) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    full = {
        "service": "proprete",
        "motif": "dépôt",
        "urgence": 3,
        "score": 0.25,
        "visible": True,
        "etiquettes": ["a", "b"],
    }
    d = app.propose(**propose_kwargs("formulaire.riche", suggestion=VALID_RICH)).decision
    amended = sup.decide(d.id, verdict="amend", amended_output=full, justification="corrigé")
    assert amended.state == AMENDED
    assert json_format.MessageToDict(amended.outcome) == {**full, "urgence": 3.0}


def test_a_service_outside_the_enum_is_never_released(as_: Callable[[str], Client]) -> None:
    """The review's own case: an amendment naming a service that does not exist (signalement.ia)
    and an attested suggestion doing the same."""
    app, sup = as_("app-a"), as_("sup-a1")
    error = refused(
        InvalidArgumentError,
        lambda: app.propose(**propose_kwargs("signalement.ia", suggestion={"service": "police"})),
    )
    assert fields_of(error) == ["attested_suggestion.output.service"]
    d = app.propose(**propose_kwargs("signalement.ia", suggestion={"service": "voirie"})).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(
            d.id, verdict="amend", amended_output={"service": "police"}, justification="corrigé"
        ),
    )
    assert fields_of(error) == ["amended_output.service"]
    assert "voirie" in error.violations[0].description  # says what is allowed
    assert sup.get_decision(d.id).state == PENDING
    assert (
        sup.decide(
            d.id, verdict="amend", amended_output={"service": "eclairage"}, justification="corrigé"
        ).state
        == AMENDED
    )
