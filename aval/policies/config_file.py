"""Reading an operator's YAML file (OpenID Connect, console…): read, parsed, repeated keys
refused, every problem a PolicyError naming the file, the line, the field and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aval.policies.loading import PolicyError
from aval.policies.yaml_lines import (
    SYNTAX_FIX,
    Loc,
    RepeatedKey,
    YamlSyntaxError,
    line_of,
    parse,
    refuse_repeated_keys,
)


@dataclass(frozen=True)
class ConfigFile:
    """A parsed file: its data and node tree, and how to word a mistake at a place in it."""

    shown: str
    data: Any
    root: yaml.Node | None

    def mistake(self, loc: Loc, message: str, fix: str) -> PolicyError:
        where = ".".join(str(p) for p in loc) or "(document)"
        return PolicyError(self.shown, line_of(self.root, loc), where, message, fix)


def read_config_file(path: Path, setting: str) -> ConfigFile:
    """Reads, parses and checks the keys of the file `setting` names.

    Raises:
        PolicyError: unreadable, not one YAML document, or a key repeated in a mapping.
    """
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(
            shown, None, "(file)", f"cannot read it ({exc})", f"set {setting} to a readable file"
        ) from exc
    try:
        data, root = parse(text)
    except YamlSyntaxError as exc:
        raise PolicyError(shown, exc.line, "(syntax)", exc.message, SYNTAX_FIX) from exc
    try:
        refuse_repeated_keys(root)
    except RepeatedKey as exc:
        raise PolicyError(shown, exc.line, exc.where, str(exc), exc.fix) from exc
    return ConfigFile(shown, data, root)
