"""Loads presets and tenant policy files; each error names the file, line, field and fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from aval.policies.review import (
    NOTICE_TEMPLATES,
    DecisionTypeFields,
    Preset,
    ReviewPolicy,
    TenantPolicyFile,
    content_revision,
)
from aval.policies.yaml_lines import (
    SYNTAX_FIX,
    Loc,
    RepeatedKey,
    YamlSyntaxError,
    common_fix,
    line_of,
    parse,
    refuse_repeated_keys,
)

M = TypeVar("M", bound=BaseModel)


class PolicyError(ValueError):
    """A policy file that cannot be used, and how to mend it."""

    def __init__(self, path: str, line: int | None, field: str, message: str, fix: str) -> None:
        self.path, self.line, self.field, self.message, self.fix = path, line, field, message, fix
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message} — fix: {fix}")


def _fix_for(error_type: str, loc: Loc, message: str) -> str:
    name = str(loc[-1]) if loc else ""
    if name == "required_approvals" and error_type in {"greater_than_equal", "int_type"}:
        return (
            "set required_approvals to 1 or more: Aval never lets a decision take effect "
            "without a person (invariant I1)"
        )
    if "input_fields" in loc:
        return (
            "write input_fields as a list of `{name: <input key>, label: {fr: ..., en: ...}}`, "
            "with an optional `help: {fr: ..., en: ...}`"
        )
    if (common := common_fix(error_type, loc)) is not None:
        return common
    if name == "deadline":
        return "write a positive duration such as 72h, 10d or P10D"
    if name == "qualified_reviewers":
        return (
            "write `qualified_reviewers: required` (only reviewers qualified in the reviewer "
            "registry may review) or `qualified_reviewers: off`"
        )
    if "approver_acr" in loc:
        return (
            "write approver_acr as a list of authentication levels as tokens state them in "
            "their `acr` claim, e.g. [eidas2, eidas3]"
        )
    if name in {"decide_first", "blind_second_review"}:
        return f"write `{name}: true` or `{name}: false`"
    return message


@dataclass(frozen=True)
class _Source:
    path: str
    text: str
    data: Any
    root: yaml.Node | None

    def error(self, loc: Loc, error_type: str, message: str) -> PolicyError:
        field = ".".join(str(p) for p in loc) or "(document)"
        return PolicyError(
            self.path, line_of(self.root, loc), field, message, _fix_for(error_type, loc, message)
        )


def _read(path: str, text: str) -> _Source:
    try:
        data, root = parse(text)
    except YamlSyntaxError as exc:
        raise PolicyError(path, exc.line, "(syntax)", exc.message, SYNTAX_FIX) from exc
    try:  # YAML keeps the last of two equal keys silently: a rule would change unseen
        refuse_repeated_keys(root)
    except RepeatedKey as exc:
        raise PolicyError(path, exc.line, exc.where, str(exc), exc.fix) from exc
    return _Source(path, text, data, root)


def _validate(source: _Source, model: type[M], prefix: Loc = ()) -> M:
    try:
        return model.model_validate(source.data if not prefix else _dig(source.data, prefix))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise source.error(prefix + tuple(first["loc"]), first["type"], first["msg"]) from exc


def _dig(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def load_presets(extra_dirs: Iterable[Path] = ()) -> dict[str, tuple[Preset, _Source]]:
    """The shipped presets (policies/presets) and any in extra_dirs, by name."""
    sources: list[tuple[str, str]] = []
    for entry in resources.files("aval.policies").joinpath("presets").iterdir():
        if entry.name.endswith(".yaml"):
            sources.append((f"presets/{entry.name}", entry.read_text(encoding="utf-8")))
    for folder in extra_dirs:
        sources += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))]
    presets = {}
    for path, text in sources:
        source = _read(path, text)
        preset = _validate(source, Preset)
        presets[preset.name] = (preset, source)
    return presets


class PolicyBook:
    """Every review policy of the deployment, by (tenant, decision type)."""

    def __init__(self, policies: Iterable[ReviewPolicy]) -> None:
        self._policies = {(p.tenant, p.decision_type): p for p in policies}
        self.tenants = frozenset(t for t, _ in self._policies)

    def get(self, tenant: str, decision_type: str) -> ReviewPolicy | None:
        return self._policies.get((tenant, decision_type))

    def decision_types(self, tenant: str) -> list[str]:
        return sorted(t for (ten, t) in self._policies if ten == tenant)

    def __len__(self) -> int:
        return len(self._policies)


def _merge(
    layers: Sequence[tuple[DecisionTypeFields, _Source, Loc]],
) -> tuple[dict[str, Any], dict[str, tuple[_Source, Loc]]]:
    fields: dict[str, Any] = {}
    origin: dict[str, tuple[_Source, Loc]] = {}
    for layer, source, loc in layers:
        for name, value in layer.model_dump(exclude_none=True).items():
            fields[name] = value
            origin[name] = (source, (*loc, name))
    return fields, origin


def build_tenant_policies(
    source: _Source, presets: dict[str, tuple[Preset, _Source]]
) -> list[ReviewPolicy]:
    """Validates one tenant file against its preset; raises PolicyError on the first problem."""
    spec = _validate(source, TenantPolicyFile)
    revision = spec.revision or content_revision(source.text.encode("utf-8"))
    preset_layers: list[tuple[DecisionTypeFields, _Source, Loc]] = []
    preset: Preset | None = None
    if spec.preset is not None:
        if spec.preset not in presets:
            raise source.error(
                ("preset",),
                "unknown_preset",
                f"unknown preset {spec.preset!r}; known: {', '.join(sorted(presets))}",
            )
        preset, preset_source = presets[spec.preset]
        preset_layers.append((preset.defaults, preset_source, ("defaults",)))
    policies = []
    for type_name, own in spec.decision_types.items():
        layers = list(preset_layers)
        if preset is not None and type_name in preset.decision_types:
            layers.append(
                (
                    preset.decision_types[type_name],
                    presets[spec.preset or ""][1],
                    ("decision_types", type_name),
                )
            )
        if spec.contact is not None:
            layers.append((DecisionTypeFields(contact=spec.contact), source, ()))
        layers.append((own, source, ("decision_types", type_name)))
        fields, origin = _merge(layers)
        purpose, contact = fields.get("purpose"), fields.pop("contact", None)
        if "notice" not in fields:
            if not (purpose and contact):
                raise source.error(
                    ("decision_types", type_name),
                    "missing_notice",
                    "no notice for the citizen (CRPA L311-3-1): give `purpose` and `contact`, "
                    "or `notice: {fr: ...}`",
                )
            fields["notice"] = {
                lang: template.format(purpose=purpose, contact=contact)
                for lang, template in NOTICE_TEMPLATES.items()
            }
        elif "fr" not in fields["notice"]:
            src, loc = origin["notice"]
            raise src.error(loc, "missing", "the notice needs a French text")
        try:
            policies.append(
                ReviewPolicy(
                    tenant=spec.tenant, decision_type=type_name, revision=revision, **fields
                )
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            src, loc = origin.get(name, (source, ("decision_types", type_name, name)))
            raise src.error(loc, first["type"], first["msg"]) from exc
    return policies


def load_policy_dir(
    folder: Path, *, presets: dict[str, tuple[Preset, _Source]] | None = None
) -> PolicyBook:
    """Loads every *.yaml tenant file of a folder.

    Raises:
        PolicyError: naming the file, line, field and fix of the first problem found.
    """
    if not folder.is_dir():
        raise PolicyError(
            str(folder),
            None,
            "(folder)",
            "no such policy folder",
            "set AVAL_POLICY_DIR to a folder of tenant policy files",
        )
    known = presets if presets is not None else load_presets()
    policies: list[ReviewPolicy] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        source = _read(str(path), path.read_text(encoding="utf-8"))
        tenant_policies = build_tenant_policies(source, known)
        tenant = tenant_policies[0].tenant
        if tenant in seen:
            raise source.error(
                ("tenant",), "duplicate", f"tenant {tenant!r} is already defined in {seen[tenant]}"
            )
        seen[tenant] = str(path)
        policies += tenant_policies
    return PolicyBook(policies)


def load_policy_text(path: str, text: str) -> list[ReviewPolicy]:
    """Validates one tenant file given as text (for tests and `aval policy check`)."""
    return build_tenant_policies(_read(path, text), load_presets())
