"""The deploying authority's identity in the console: name, logo, colours, checked at start-up.

Colours must read at WCAG 2.1 level AA (4.5:1 for text): the text colour on the main colour
(buttons, the header band) and the main colour on white (links, focus rings). A deployment that
is not a State body never shows the State's identity (no Marianne block, font or logo): the
console draws the authority's own header. `state_body: true` is for prefectures and
deconcentrated services, which may show "République française" above their name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AA_TEXT = 4.5
WHITE = "#ffffff"
# The logo is served from memory: keep it small.
MAX_LOGO_BYTES = 256 * 1024
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}


def luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two #rrggbb colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class Colors(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Header band, buttons, links.
    primary: str
    # Text drawn on the primary colour.
    on_primary: str = WHITE

    @field_validator("primary", "on_primary")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX.match(value):
            raise ValueError(f"{value!r} is not a colour: write it #rrggbb, e.g. #1f4e79")
        return value.lower()

    @model_validator(mode="after")
    def _readable(self) -> Colors:
        pairs = (
            ("on_primary on primary", self.on_primary, self.primary),
            ("primary on white", self.primary, WHITE),
        )
        for what, fore, back in pairs:
            ratio = contrast(fore, back)
            if ratio < AA_TEXT:
                raise ValueError(
                    f"{what} ({fore} on {back}) has a contrast of {ratio:.2f}:1, under the "
                    f"{AA_TEXT}:1 that WCAG 2.1 AA asks for text: choose a darker primary colour"
                )
        return self


class Authority(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    kind: Literal[
        "commune", "intercommunalite", "departement", "region", "etablissement", "etat"
    ] = "commune"
    logo: Path | None = None
    # Alternative text of the logo; the authority's name when unset.
    logo_alt: str = Field(default="", max_length=200)
    colors: Colors
    # Only a State body (prefecture, deconcentrated service) may show the State's identity.
    state_body: bool = False

    @model_validator(mode="after")
    def _state(self) -> Authority:
        if self.kind == "etat" and not self.state_body:
            raise ValueError(
                "kind 'etat' is for State bodies: set state_body: true, or change kind"
            )
        if self.state_body and self.kind != "etat":
            raise ValueError(
                "state_body: true shows the State's identity, reserved to State bodies: "
                "set kind: etat (prefecture, deconcentrated service) or remove state_body"
            )
        return self


class Logo(BaseModel):
    """The logo's bytes and type, read once at start-up."""

    content: bytes
    media_type: str


def read_logo(path: Path, base: Path) -> Logo:
    """The logo file (relative to the console file's folder), checked.

    Raises:
        ValueError: missing, too large, or neither SVG nor PNG.
    """
    full = path if path.is_absolute() else base / path
    media = LOGO_TYPES.get(full.suffix.lower())
    if media is None:
        raise ValueError(f"logo {full}: give an .svg or a .png file")
    try:
        content = full.read_bytes()
    except OSError as exc:
        raise ValueError(f"logo {full}: {exc.strerror}; check the path") from exc
    if len(content) > MAX_LOGO_BYTES:
        raise ValueError(f"logo {full}: {len(content)} bytes, over {MAX_LOGO_BYTES}: shrink it")
    if media == "image/png" and not content.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"logo {full}: not a PNG file")
    if media == "image/svg+xml" and b"<svg" not in content[:4096]:
        raise ValueError(f"logo {full}: not an SVG file")
    return Logo(content=content, media_type=media)
