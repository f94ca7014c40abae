"""YAML read with its node tree, so that an error in a file can name the line it is on."""

from __future__ import annotations

from typing import Any

import yaml

Loc = tuple[str | int, ...]
# How to mend a syntax error, in any file.
SYNTAX_FIX = "correct the YAML syntax at that line"


class YamlSyntaxError(ValueError):
    """Text that is not one YAML document: the 1-based line at fault (None: unknown), and why."""

    def __init__(self, line: int | None, message: str) -> None:
        self.line, self.message = line, message
        super().__init__(message)


def parse(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of one YAML document (safe types only) and its node tree.

    Raises:
        YamlSyntaxError: the text is not one well-formed YAML document of safe types.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlSyntaxError(mark.line + 1 if mark else None, str(exc).split("\n")[0]) from exc
    finally:
        loader.dispose()
    return data, root


def line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the value at `loc` (of its key in a mapping), or of its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def common_fix(error_type: str, loc: Loc) -> str | None:
    """How to mend a field the file's schema does not know (extra) or lacks (missing)."""
    name = str(loc[-1]) if loc else ""
    if error_type == "extra_forbidden":
        return f"remove '{name}' or correct its spelling"
    if error_type == "missing":
        return f"add '{name}'"
    return None


class RepeatedKey(ValueError):
    """A key given twice in one mapping, which YAML would silently resolve to the last."""

    def __init__(self, loc: Loc, line: int, first_line: int) -> None:
        self.loc, self.line, self.first_line = loc, line, first_line
        self.name = str(loc[-1])
        super().__init__(
            f"'{self.name}' is given twice in one entry (first at line {first_line}); YAML "
            "would keep only the last"
        )

    @property
    def where(self) -> str:
        return ".".join(str(p) for p in self.loc)

    @property
    def fix(self) -> str:
        return f"keep one '{self.name}'"


def refuse_repeated_keys(node: yaml.Node | None, loc: Loc = ()) -> None:
    """Raises RepeatedKey at the first key given twice in a mapping of the tree (a principal
    changing tenant, an issuer changing audience, unseen).

    Raises:
        RepeatedKey: with where it is, its line and the line of the first one.
    """
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in first:
                raise RepeatedKey((*loc, name), key.start_mark.line + 1, first[name])
            first[name] = key.start_mark.line + 1
            refuse_repeated_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            refuse_repeated_keys(item, (*loc, i))
