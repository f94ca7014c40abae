"""The amend form generated from an output schema, and the output read back from a post: each
schema type gets its input, what a person types reaches the gateway typed when it reads as the
type (else as typed, for the gateway to name), and a refusal's path finds its field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aval.console.pages import amend_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "motif": {"type": "string", "description": "pourquoi"},
        "service": {"type": "string", "enum": ["voirie", "proprete"], "title": "Service"},
        "montant": {"type": "integer"},
        "taux": {"type": "number"},
        "urgent": {"type": "boolean"},
        "etiquettes": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["service", "montant"],
}


def test_each_schema_type_gets_its_input_required_fields_first() -> None:
    fields = amend_form.fields(SCHEMA, {"service": "voirie", "montant": 1200.0, "urgent": True})
    kinds = {f.name: f.kind for f in fields}
    assert [f.name for f in fields][:2] == ["service", "montant"]
    assert kinds == {
        "service": "select",
        "montant": "integer",
        "etiquettes": "json",
        "motif": "text",
        "taux": "number",
        "urgent": "checkbox",
    }
    by_name = {f.name: f for f in fields}
    assert by_name["service"].options == ("voirie", "proprete")
    assert by_name["service"].label == "Service" and by_name["motif"].help == "pourquoi"
    assert by_name["montant"].value == "1200" and by_name["urgent"].checked
    assert by_name["service"].required and not by_name["motif"].required


def test_a_posted_form_becomes_a_typed_output() -> None:
    posted = {
        "service": "proprete",
        "montant": " 900 ",
        "taux": "0,5",
        "urgent": "on",
        "etiquettes": '["a", "b"]',
        "motif": "",
    }
    output = amend_form.output(amend_form.fields(SCHEMA, {}, posted))
    assert output == {
        "service": "proprete",
        "montant": 900,
        "taux": 0.5,
        "urgent": True,
        "etiquettes": ["a", "b"],
    }


def test_what_does_not_read_as_its_type_is_sent_as_typed_for_the_gateway_to_refuse() -> None:
    posted = {
        "service": "voirie",
        "montant": "douze",
        "etiquettes": "[pas du json",
        "urgent": "off",
    }
    output = amend_form.output(amend_form.fields(SCHEMA, {}, posted))
    assert output["montant"] == "douze" and output["etiquettes"] == "[pas du json"
    assert output["urgent"] is False


def test_without_properties_the_form_is_one_json_object() -> None:
    fields = amend_form.fields(None, {"accord": True})
    assert len(fields) == 1 and fields[0].kind == "json" and '"accord": true' in fields[0].value
    assert amend_form.output(amend_form.fields(None, {}, {"": '{"a": 1}'})) == {"a": 1}
    with pytest.raises(amend_form.NotAnObject):
        amend_form.output(amend_form.fields(None, {}, {"": "[1, 2]"}))


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("amended_output.service", "service"),
        ("amended_output.etiquettes[1]", "etiquettes"),
        ("amended_output.adresse.rue", "adresse"),
        ("amended_output", ""),
        ("output.service", "service"),
        ("justification", None),
    ],
)
def test_a_refusal_path_finds_its_field(path: str, field: str | None) -> None:
    assert amend_form.field_of(path) == field


@given(st.text(max_size=40))
def test_a_field_id_is_always_a_plain_token(name: str) -> None:
    field = amend_form.AmendField(name, name, "", "text", (), False, "")
    assert field.id.startswith("amend-")
    assert all(c.isalnum() or c in "-_" for c in field.id)
    assert field.form_name == "out." + name
