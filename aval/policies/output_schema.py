"""The JSON Schema subset a decision type's suggestions must satisfy, and strict validation.

A decision type declares the shape of its suggestions as a small JSON Schema:

    {"type": "object",
     "properties": {"categorie": {"type": "string", "enum": ["voirie", "propreté"]},
                    "urgence": {"type": "integer", "minimum": 1, "maximum": 3}},
     "required": ["categorie"],
     "additionalProperties": false}

Properties are strings (enum, minLength, maxLength), integers and numbers (minimum, maximum),
booleans, and arrays of strings (items, minItems, maxItems); any of them may carry a title and
a description. The subset is what every OpenAI-compatible server can enforce with structured
output and what a reviewer can read at a glance. Validation is strict: no extra field, no
coercion ("3" is not 3, 3.0 is not an integer, true is not a number).

This module depends on Pydantic only, so that the policy loader can use it.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

_ANNOTATIONS = frozenset({"title", "description"})
_TOP_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"}) | _ANNOTATIONS
_KEYWORDS: dict[str, frozenset[str]] = {
    "string": frozenset({"type", "enum", "minLength", "maxLength"}) | _ANNOTATIONS,
    "integer": frozenset({"type", "minimum", "maximum"}) | _ANNOTATIONS,
    "number": frozenset({"type", "minimum", "maximum"}) | _ANNOTATIONS,
    "boolean": frozenset({"type"}) | _ANNOTATIONS,
    "array": frozenset({"type", "items", "minItems", "maxItems"}) | _ANNOTATIONS,
}
_ITEM_KEYWORDS = frozenset({"type", "enum", "minLength", "maxLength"}) | _ANNOTATIONS
# Readers of the messages below are policy authors: each names where and what to write.
_SUBSET = (
    'an object schema: {"type": "object", "properties": {...}, "required": [...], '
    '"additionalProperties": false}'
)


class SchemaError(ValueError):
    """An output schema outside the supported subset; the message names the fix."""


class OutputError(ValueError):
    """Data that does not satisfy an output schema; the message lists every problem.

    Attributes:
        problems: One text per problem, its place first ("categorie: Input should be ...").
        places: The same problems as (path inside the data, what is wrong) pairs: the path
            is "" for the data as a whole, else like "categorie" or "etiquettes[1]".
    """

    def __init__(
        self,
        message: str,
        problems: tuple[str, ...] = (),
        places: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.problems = problems
        self.places = places


def check_output_schema(schema: Any) -> None:
    """Checks that `schema` is in the supported subset.

    Raises:
        SchemaError (a ValueError): naming the offending place (`output_schema.properties.x`)
            and what to write instead.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"output_schema must be {_SUBSET}, not {type(schema).__name__}")
    if schema.get("type") != "object":
        raise SchemaError(f'output_schema: set "type": "object" (it must be {_SUBSET})')
    _only(schema, _TOP_KEYWORDS, "output_schema")
    if schema.get("additionalProperties", True) is not False:
        raise SchemaError(
            'output_schema: set "additionalProperties": false (suggestions may only hold '
            "the declared properties)"
        )
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SchemaError(
            'output_schema: declare at least one property under "properties", e.g. '
            '{"categorie": {"type": "string", "enum": ["voirie", "propreté"]}}'
        )
    for name, spec in properties.items():
        if not name.strip():
            raise SchemaError("output_schema.properties: a property name cannot be empty")
        _check_property(spec, f"output_schema.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError('output_schema.required must be a list of property names, e.g. ["x"]')
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise SchemaError(
            f"output_schema.required names {', '.join(map(repr, unknown))}, which "
            f'"properties" does not declare: declare it or remove it from "required"'
        )
    if len(set(required)) != len(required):
        raise SchemaError("output_schema.required lists a property twice: list each once")


def _check_property(spec: Any, where: str) -> None:
    kinds = ", ".join(_KEYWORDS)
    if not isinstance(spec, dict):
        raise SchemaError(f'{where} must be an object such as {{"type": "string"}}')
    kind = spec.get("type")
    if kind not in _KEYWORDS:
        raise SchemaError(f'{where}: "type" must be one of {kinds}, not {kind!r}')
    _only(spec, _KEYWORDS[kind], where)
    if kind == "string":
        _check_string(spec, where)
    elif kind in ("integer", "number"):
        _check_bounds(spec, where, "minimum", "maximum", integer=kind == "integer")
    elif kind == "array":
        items = spec.get("items")
        if not isinstance(items, dict) or items.get("type") != "string":
            raise SchemaError(
                f'{where}: arrays must declare string items: "items": {{"type": "string"}}'
            )
        _only(items, _ITEM_KEYWORDS, f"{where}.items")
        _check_string(items, f"{where}.items")
        _check_bounds(spec, where, "minItems", "maxItems", integer=True, counts=True)


def _check_string(spec: dict[str, Any], where: str) -> None:
    if "enum" in spec:
        values = spec["enum"]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise SchemaError(f'{where}: "enum" must be a non-empty list of strings')
        if len(set(values)) != len(values):
            raise SchemaError(f'{where}: "enum" lists a value twice: list each once')
    _check_bounds(spec, where, "minLength", "maxLength", integer=True, counts=True)


def _check_bounds(
    spec: dict[str, Any],
    where: str,
    low_key: str,
    high_key: str,
    *,
    integer: bool,
    counts: bool = False,
) -> None:
    bounds = []
    for key in (low_key, high_key):
        if key not in spec:
            continue
        value = spec[key]
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if integer and not (isinstance(value, int) and not isinstance(value, bool)):
            raise SchemaError(f"{where}: {key!r} must be a whole number, not {value!r}")
        if not number_ok or not math.isfinite(value):
            raise SchemaError(f"{where}: {key!r} must be a finite number, not {value!r}")
        if counts and value < 0:
            raise SchemaError(f"{where}: {key!r} cannot be negative")
        bounds.append(value)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise SchemaError(f"{where}: {low_key!r} ({bounds[0]}) exceeds {high_key!r} ({bounds[1]})")


def _only(spec: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise SchemaError(
            f"{where}: {', '.join(map(repr, extra))} is not supported here; "
            f"remove it (allowed: {', '.join(sorted(allowed))})"
        )


def output_model(schema: dict[str, Any]) -> type[BaseModel]:
    """The strict Pydantic model of a schema in the subset (cached by the schema's content).

    Raises:
        SchemaError: when the schema is outside the subset.
    """
    check_output_schema(schema)
    return _model_of(json.dumps(schema, sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=256)
def _model_of(canonical: str) -> type[BaseModel]:
    schema = json.loads(canonical)
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    # Field names are positional so that any property name (accents, dashes) is an alias.
    for index, (name, spec) in enumerate(schema["properties"].items()):
        annotation = _annotation(spec)
        if name in required:
            fields[f"p{index}"] = (annotation, Field(alias=name))
        else:
            fields[f"p{index}"] = (annotation, Field(default=None, alias=name))
    config = ConfigDict(strict=True, extra="forbid", populate_by_name=False)
    model: type[BaseModel] = create_model("Output", __config__=config, **fields)
    return model


def _annotation(spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "string":
        return _string(spec)
    if kind == "integer":
        return Annotated[int, Field(ge=spec.get("minimum"), le=spec.get("maximum"))]
    if kind == "number":
        return Annotated[
            float, Field(ge=spec.get("minimum"), le=spec.get("maximum"), allow_inf_nan=False)
        ]
    if kind == "boolean":
        return bool
    items = list.__class_getitem__(_string(spec["items"]))
    return Annotated[items, Field(min_length=spec.get("minItems"), max_length=spec.get("maxItems"))]


def _string(spec: dict[str, Any]) -> Any:
    bounded = Field(min_length=spec.get("minLength"), max_length=spec.get("maxLength"))
    if "enum" in spec:
        return Annotated[Literal[tuple(spec["enum"])], bounded]
    return Annotated[str, bounded]


def validate_output(schema: dict[str, Any], data: Any) -> dict[str, Any]:
    """`data` checked against `schema`, as a new dict holding only the properties given.

    Raises:
        OutputError (a ValueError): listing every problem, e.g.
            "categorie: Input should be 'voirie' or 'propreté' (got 'urgent')".
        SchemaError: when the schema itself is outside the subset.
    """
    model = output_model(schema)
    if not isinstance(data, dict):
        what = f"expected a JSON object, got {_json_type(data)}"
        raise OutputError(what, (f"(root): {what}",), (("", what),))
    try:
        checked = model.model_validate(data)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        problems = tuple(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {_what(e)}" for e in errors)
        places = tuple((_path(e["loc"]), _what(e)) for e in errors)
        raise OutputError("; ".join(problems), problems, places) from None
    result: dict[str, Any] = checked.model_dump(by_alias=True, exclude_unset=True)
    return result


def _path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


def _what(error: Any) -> str:
    if error["type"] in ("missing", "extra_forbidden"):
        return str(error["msg"])
    return f"{error['msg']} (got {_short(error.get('input'))})"


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return names.get(type(value), type(value).__name__)
