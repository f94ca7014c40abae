"""The output schema subset of decision types: what is accepted, what is refused with which
fix, and strict validation of suggestions against it."""

from __future__ import annotations

from typing import Any

import pytest

from aval.service.ai.backends import (
    OutputError,
    SchemaError,
    check_output_schema,
    output_model,
    validate_output,
)

SIGNALEMENT: dict[str, Any] = {
    "type": "object",
    "title": "Orientation d'un signalement",
    "properties": {
        "catégorie": {
            "type": "string",
            "enum": ["voirie", "propreté", "éclairage", "espaces verts"],
            "description": "le service compétent",
        },
        "urgence": {"type": "integer", "minimum": 1, "maximum": 3},
        "montant": {"type": "number", "minimum": 0},
        "doublon": {"type": "boolean"},
        "mots-clés": {
            "type": "array",
            "items": {"type": "string", "maxLength": 20},
            "maxItems": 3,
        },
        "note": {"type": "string", "minLength": 1, "maxLength": 10},
    },
    "required": ["catégorie", "urgence"],
    "additionalProperties": False,
}


def test_a_schema_in_the_subset_is_accepted() -> None:
    check_output_schema(SIGNALEMENT)


def _with(**changes: Any) -> dict[str, Any]:
    schema = dict(SIGNALEMENT)
    schema.update(changes)
    return schema


def _with_property(name: str, spec: Any) -> dict[str, Any]:
    return _with(properties={**SIGNALEMENT["properties"], name: spec})


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ([], "output_schema must be an object schema"),
        (_with(type="array"), 'set "type": "object"'),
        (_with(additionalProperties=True), '"additionalProperties": false'),
        ({k: v for k, v in SIGNALEMENT.items() if k != "additionalProperties"}, "false"),
        (_with(properties={}), "declare at least one property"),
        (_with(required=["catégorie", "inconnue"]), "'inconnue', which \"properties\" does"),
        (_with(required=["urgence", "urgence"]), "list each once"),
        (_with(oneOf=[]), "'oneOf' is not supported here; remove it"),
        (_with_property("code", {"type": "string", "pattern": "^[A-Z]+$"}), "'pattern'"),
        (_with_property("objet", {"type": "object"}), '"type" must be one of string'),
        (_with_property("n", {"type": "integer", "minimum": 1.5}), "whole number"),
        (_with_property("n", {"type": "integer", "minimum": 5, "maximum": 1}), "exceeds"),
        (_with_property("x", {"type": "number", "maximum": True}), "finite number"),
        (_with_property("e", {"type": "string", "enum": []}), "non-empty list of strings"),
        (_with_property("e", {"type": "string", "enum": ["a", "a"]}), "twice"),
        (_with_property("s", {"type": "string", "minLength": -1}), "cannot be negative"),
        (_with_property("l", {"type": "array", "items": {"type": "integer"}}), "string items"),
        (_with_property("l", {"type": "array"}), "string items"),
        (_with_property("x", "string"), 'must be an object such as {"type": "string"}'),
    ],
)
def test_a_schema_outside_the_subset_is_refused_naming_place_and_fix(
    schema: Any, expected: str
) -> None:
    with pytest.raises(SchemaError) as refused:
        check_output_schema(schema)
    assert expected in str(refused.value)
    assert str(refused.value).startswith("output_schema")
    assert isinstance(refused.value, ValueError)  # what Pydantic validators turn into errors


def test_the_refusal_names_the_property_path() -> None:
    with pytest.raises(SchemaError, match=r"output_schema\.properties\.code: 'pattern'"):
        check_output_schema(_with_property("code", {"type": "string", "pattern": "x"}))


def test_a_valid_output_is_returned_with_only_the_given_properties() -> None:
    data = {"catégorie": "voirie", "urgence": 2, "mots-clés": ["nid", "trou"], "montant": 3}
    assert validate_output(SIGNALEMENT, data) == {
        "catégorie": "voirie",
        "urgence": 2,
        "mots-clés": ["nid", "trou"],
        "montant": 3.0,
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"catégorie": "urgent", "urgence": 2}, "catégorie: Input should be 'voirie'"),
        ({"catégorie": "voirie", "urgence": "2"}, "urgence: Input should be a valid integer"),
        ({"catégorie": "voirie", "urgence": 2.0}, "urgence: Input should be a valid integer"),
        ({"catégorie": "voirie", "urgence": True}, "urgence: Input should be a valid integer"),
        ({"catégorie": "voirie", "urgence": 4}, "urgence: Input should be less than or equal"),
        ({"catégorie": "voirie"}, "urgence: Field required"),
        ({"catégorie": "voirie", "urgence": 1, "autre": 1}, "autre: Extra inputs are not"),
        ({"catégorie": "voirie", "urgence": 1, "montant": "3"}, "montant: Input should be a"),
        ({"catégorie": "voirie", "urgence": 1, "montant": -1}, "montant: Input should be greater"),
        ({"catégorie": "voirie", "urgence": 1, "doublon": 1}, "doublon: Input should be a valid"),
        ({"catégorie": "voirie", "urgence": 1, "note": ""}, "note: String should have at least"),
        ({"catégorie": "voirie", "urgence": 1, "note": None}, "note: Input should be a valid"),
        ({"catégorie": "voirie", "urgence": 1, "mots-clés": ["a"] * 4}, "mots-clés: List should"),
        ({"catégorie": "voirie", "urgence": 1, "mots-clés": [1]}, "mots-clés.0: Input should be"),
        (["voirie"], "expected a JSON object, got an array"),
    ],
)
def test_validation_is_strict_and_names_each_problem(data: Any, expected: str) -> None:
    with pytest.raises(OutputError) as refused:
        validate_output(SIGNALEMENT, data)
    assert expected in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(OutputError) as refused:
        validate_output(SIGNALEMENT, {"catégorie": "urgent", "urgence": 9, "x": 1})
    assert len(refused.value.problems) == 3


def test_nan_is_not_a_number_here() -> None:
    with pytest.raises(OutputError):
        validate_output(SIGNALEMENT, {"catégorie": "voirie", "urgence": 1, "montant": float("nan")})


def test_models_are_cached_by_content() -> None:
    copy = {**SIGNALEMENT, "properties": dict(SIGNALEMENT["properties"])}
    assert output_model(SIGNALEMENT) is output_model(copy)
    assert output_model(SIGNALEMENT) is not output_model(_with(required=["catégorie"]))


def test_validating_against_a_bad_schema_raises_the_schema_error() -> None:
    with pytest.raises(SchemaError):
        validate_output({"type": "object"}, {})
