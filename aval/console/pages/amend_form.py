"""The amend form, generated from a decision type's output schema, and the output read back
from a posted form. The console checks nothing of the schema itself: what it reads is sent to
the gateway as typed, and the gateway's refusals are shown next to the fields they name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aval.console.pages.showing import json_text
from aval.verifier.chain import parse_json

Kind = Literal["select", "text", "number", "integer", "checkbox", "json"]
# A posted field's name is this prefix and the output's key, so that no output key can shadow
# a field of the form itself (csrf, seen_version, justification).
PREFIX = "out."


@dataclass(frozen=True)
class AmendField:
    """One input of the amend form, for one property of the output."""

    name: str
    label: str
    help: str
    kind: Kind
    options: tuple[str, ...]
    required: bool
    value: str
    checked: bool = False

    @property
    def form_name(self) -> str:
        return PREFIX + self.name

    @property
    def id(self) -> str:
        if not self.name:  # the whole output as one JSON object
            return "amend-output"
        return "amend-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)


def _kind(schema: Mapping[str, Any]) -> tuple[Kind, tuple[str, ...]]:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return "select", tuple(enum)
    kind = schema.get("type")
    if kind == "string":
        return "text", ()
    if kind in ("integer", "number"):
        return kind, ()
    if kind == "boolean":
        return "checkbox", ()
    return "json", ()


def _shown(kind: Kind, value: Any) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json_text(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fields(
    schema: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    posted: Mapping[str, str] | None = None,
) -> list[AmendField]:
    """The form's fields: one per property of an object schema (in its order), pre-filled with
    what was posted, else the current output; a single JSON field when the schema describes no
    properties (or there is no schema)."""
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict) or not properties:
        text = posted.get("", "") if posted is not None else json_text(dict(current))
        return [AmendField("", "", "", "json", (), True, text)]
    required = [n for n in (schema or {}).get("required") or () if n in properties]
    # The gateway's Struct does not keep the schema's order: required fields first, as the
    # schema lists them, then the others by name.
    names = required + sorted(n for n in properties if n not in required)
    found = []
    for name in names:
        sub = properties[name]
        sub = sub if isinstance(sub, dict) else {}
        kind, options = _kind(sub)
        if posted is not None:
            value = posted.get(name, "")
            checked = value == "on"
        else:
            value = _shown(kind, current.get(name))
            checked = current.get(name) is True
        label = str(sub.get("title") or name)
        found.append(
            AmendField(
                name=name,
                label=label,
                help=str(sub.get("description") or ""),
                kind=kind,
                options=options,
                required=name in required,
                value=value,
                checked=checked,
            )
        )
    return found


def posted_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The amend form's fields as posted, by output key ("" for a whole-output JSON field)."""
    return {
        key.removeprefix(PREFIX): value
        for key, value in form.items()
        if key.startswith(PREFIX) and isinstance(value, str)
    }


def _typed(kind: Kind, text: str) -> Any:
    """A posted text as the schema's type when it reads as one, else the text itself (the
    gateway then names the field it refuses)."""
    if kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if kind == "number":
        try:
            number = float(text.strip().replace(",", "."))
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    if kind == "json":
        try:
            return parse_json(text)
        except ValueError:
            return text
    return text


class NotAnObject(ValueError):
    """The whole-output JSON field holds no JSON object (nothing the gateway could read)."""


def output(form_fields: list[AmendField]) -> dict[str, Any]:
    """The amended output to send: empty fields are left out (a required one is then refused
    by the gateway), checkboxes are true or false.

    Raises:
        NotAnObject: the form is one JSON field whose text is not a JSON object.
    """
    if len(form_fields) == 1 and form_fields[0].name == "":
        whole = _typed("json", form_fields[0].value)
        if not isinstance(whole, dict):
            raise NotAnObject(form_fields[0].value)
        return whole
    out: dict[str, Any] = {}
    for f in form_fields:
        if f.kind == "checkbox":
            out[f.name] = f.checked
        elif f.value.strip():
            out[f.name] = _typed(f.kind, f.value)
    return out


def field_of(path: str) -> str | None:
    """The output key a gateway violation names (`amended_output.service[0]` → `service`), ""
    for the whole output, None for a field outside the output."""
    for prefix in ("amended_output", "output"):
        if path == prefix:
            return ""
        if path.startswith(prefix + "."):
            rest = path[len(prefix) + 1 :]
            return rest.split(".", 1)[0].split("[", 1)[0]
    return None
