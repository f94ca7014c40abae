"""Review policies: who must validate a decision of a given type, how, and by when (YAML files)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from aval.policies.output_schema import check_output_schema

VerdictName = Literal["approve", "amend", "reject"]
QualifiedReviewers = Literal["required", "off"]

_SHORT_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> Any:
    """Accepts "72h", "3d", "30m", "45s" besides what pydantic takes (ISO 8601, seconds)."""
    if isinstance(value, str):
        match = _SHORT_DURATION.match(value)
        if match:
            return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]

NOTICE_TEMPLATES = {
    "fr": (
        "Cette décision a été préparée à l'aide d'un traitement algorithmique, puis examinée et "
        "validée par un agent. Finalité du traitement : {purpose}. En application de l'article "
        "L311-3-1 du code des relations entre le public et l'administration, vous pouvez obtenir "
        "la communication des règles définissant ce traitement et des principales "
        "caractéristiques de sa mise en œuvre en vous adressant à : {contact}."
    ),
    "en": (
        "This decision was prepared with the help of algorithmic processing, then examined and "
        "validated by a public agent. Purpose of the processing: {purpose}. Under article "
        "L311-3-1 of the French code of relations between the public and the administration, you "
        "may obtain the rules defining this processing and the main features of its "
        "implementation by contacting: {contact}."
    ),
}


class LabelText(BaseModel):
    """A short text shown to reviewers, in French and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fr: str = Field(min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.fr


class InputFieldSpec(BaseModel):
    """One field of a decision type's input as reviewers see it: its key, label and help."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")
    label: LabelText
    help: LabelText | None = None


# An authentication level as a token's `acr` claim states it (ProConnect: eidas1 to eidas3,
# with -mfa variants); one word, so that a list of them reads unambiguously.
AcrValue = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[!-~]+$")]


class DecisionTypeFields(BaseModel):
    """What a preset or a tenant file may say of a decision type; every field optional."""

    model_config = ConfigDict(extra="forbid")

    required_approvals: int | None = None
    eligible_roles: list[str] | None = None
    allow_amend: bool | None = None
    justification_required_for: list[VerdictName] | None = None
    rejections_to_close: int | None = None
    deadline: Duration | None = None
    purpose: str | None = None
    contact: str | None = None
    notice: dict[Literal["fr", "en"], str] | None = None
    # The registered AI system that suggests decisions of this type (issue 4); without one,
    # the calling application attests its own AI's suggestion, or a human decides alone.
    ai_system: str | None = None
    # A high-risk type (AI Act annex III) only uses a registered, pinned model version.
    high_risk: bool | None = None
    # The JSON Schema (subset) every suggestion of this type must satisfy.
    output_schema: dict[str, Any] | None = None
    # "required": only reviewers with a valid qualification in the reviewer registry (R11)
    # may claim or decide decisions of this type; "off" (the default) checks roles only.
    qualified_reviewers: QualifiedReviewers | None = None
    # How reviewers are shown the case (docs/review_modes.md): the input's fields with their
    # labels, in order; the reviewer's own view before the AI's suggestion (decide-first);
    # earlier reviewers' verdicts only once the reviewer gave their own (blind second review);
    # the authentication levels (token `acr`) any of which an approver must have signed in with.
    input_fields: list[InputFieldSpec] | None = None
    decide_first: bool | None = None
    blind_second_review: bool | None = None
    approver_acr: list[AcrValue] | None = None


class ReviewPolicy(BaseModel):
    """The complete, validated policy of one decision type of one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    decision_type: str
    revision: str
    # At least one person, always (I1): no configuration lets a decision take effect alone.
    required_approvals: int = Field(ge=1, le=10)
    eligible_roles: tuple[str, ...] = Field(min_length=1)
    allow_amend: bool
    justification_required_for: frozenset[VerdictName]
    rejections_to_close: int = Field(ge=1, le=10)
    deadline: timedelta
    notice: dict[Literal["fr", "en"], str]
    # What the processing is for, in French; also the AI system's instructions.
    purpose: str = ""
    ai_system: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    high_risk: bool = False
    output_schema: dict[str, Any] | None = None
    qualified_reviewers: QualifiedReviewers = "off"
    input_fields: tuple[InputFieldSpec, ...] = ()
    decide_first: bool = False
    blind_second_review: bool = False
    approver_acr: tuple[AcrValue, ...] = ()

    @property
    def requires_qualification(self) -> bool:
        """Whether reviewers need a valid qualification of the reviewer registry (R11)."""
        return self.qualified_reviewers == "required"

    @field_validator("deadline")
    @classmethod
    def _positive_deadline(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the deadline must be a positive duration, e.g. 72h or 10d")
        return value

    @model_validator(mode="after")
    def _schema_with_ai_system(self) -> ReviewPolicy:
        if self.ai_system is not None and self.output_schema is None:
            raise ValueError(
                f"decision type {self.decision_type!r} names the AI system {self.ai_system!r}: "
                "declare the `output_schema` its suggestions must satisfy"
            )
        if self.output_schema is not None:
            check_output_schema(self.output_schema)
        return self

    @model_validator(mode="after")
    def _review_modes(self) -> ReviewPolicy:
        names = [f.name for f in self.input_fields]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"decision type {self.decision_type!r}: input_fields names "
                f"{', '.join(repeated)} more than once; describe each input field once"
            )
        if self.blind_second_review and self.required_approvals < 2:
            raise ValueError(
                f"decision type {self.decision_type!r}: blind_second_review hides earlier "
                "verdicts from later reviewers, so it needs required_approvals of 2 or more; "
                "raise required_approvals or remove blind_second_review"
            )
        return self

    def notice_text(self, language: str) -> tuple[str, str]:
        """The notice in the requested language, falling back to French."""
        if language in self.notice:
            return language, self.notice[language]
        return "fr", self.notice["fr"]


class Preset(BaseModel):
    """A shared starting point (policies/presets/*.yaml) that tenant files build on."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    defaults: DecisionTypeFields = DecisionTypeFields()
    decision_types: dict[str, DecisionTypeFields] = {}


class TenantPolicyFile(BaseModel):
    """One tenant's file: its preset, shared fields, and its decision types."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    preset: str | None = None
    revision: str | None = None
    contact: str | None = None
    decision_types: dict[str, DecisionTypeFields] = Field(min_length=1)

    @field_validator("decision_types")
    @classmethod
    def _type_names(cls, value: dict[str, DecisionTypeFields]) -> dict[str, DecisionTypeFields]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", name):
                raise ValueError(
                    f"decision type {name!r}: use lowercase words separated by dots, "
                    "e.g. voirie.signalement"
                )
        return value


def content_revision(raw: bytes) -> str:
    """A revision name derived from a file's bytes: a change of policy is a change of name."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
