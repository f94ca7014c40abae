"""Every module that writes an event making a decision final (decision.finalized, .expired)
appends it through `Outcomes`, which writes the webhook outbox row in the same transaction:
a new writer that forgot would leave applications unaware of outcomes."""

from __future__ import annotations

import ast
from pathlib import Path

from aval.service.webhooks.outcomes import FINAL_KINDS

ROOT = Path(__file__).resolve().parents[2] / "aval"


def _event_kinds(tree: ast.AST) -> set[str]:
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "NewEvent":
            args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "kind")]
            kinds |= {a.value for a in args if isinstance(a, ast.Constant)}
    return kinds


def test_every_writer_of_a_final_event_enqueues_its_outcome() -> None:
    writers = {}
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        if _event_kinds(tree) & FINAL_KINDS:
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            writers[path.relative_to(ROOT).as_posix()] = "Outcomes" in names
    assert writers == {
        "service/decisions/reviewing.py": True,
        "service/decisions/expiry.py": True,
    }
