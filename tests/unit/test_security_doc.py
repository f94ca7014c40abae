"""docs/security.md cites the tests that show each claim: every test it names must exist, in
the file it names, so that the threat model cannot drift from what is tested."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"`((?:unit|integration|e2e)/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`")


def _citations() -> list[tuple[str, str | None]]:
    """(file, test) pairs in reading order; `::name` cites a test of the file cited before it."""
    found: list[tuple[str, str | None]] = []
    current = ""
    for match in CITATION.finditer((ROOT / "docs" / "security.md").read_text("utf-8")):
        path, test, same_file = match.groups()
        if path:
            current = path
            found.append((path, test))
        else:
            assert current, f"`::{same_file}` before any file"
            found.append((current, same_file))
    return found


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_threat_model_cites_exists() -> None:
    citations = _citations()
    assert len(citations) > 30
    missing = []
    for relative, test in citations:
        path = ROOT / "tests" / relative
        if not path.exists():
            missing.append(relative)
        elif test is not None and test not in _tests_in(path):
            missing.append(f"{relative}::{test}")
    assert missing == []
