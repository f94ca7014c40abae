"""The witness file's compaction (service/audit/witness_file.py): only what the rule keeps,
every tenant apart, unreadable lines left alone, replaced whole or not at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aval.service.audit.witness_file import compact, read_witnessed
from aval.verifier.retention import RetainedPoint

START = datetime(2026, 12, 1, tzinfo=UTC)


def _line(tenant: str, size: int) -> str:
    at = (START + timedelta(minutes=size)).isoformat().replace("+00:00", "Z")
    entry = {"tenant": tenant, "tree_size": size, "root_hash": f"{size:064x}", "issued_at": at}
    return json.dumps(entry) + "\n"


def _even(tenant: str, points: list[RetainedPoint]) -> frozenset[int]:
    return frozenset(p.tree_size for p in points if p.tree_size % 2 == 0 or tenant == "b")


def test_compaction_keeps_what_the_rule_keeps_per_tenant(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.jsonl"
    lines = [_line("a", 1), _line("b", 1), _line("a", 2), "not json\n", _line("a", 3)]
    path.write_text("".join(lines) + '{"tenant": "a", "tree_si')  # cut by a crash
    seen: dict[str, list[int]] = {}

    def rule(tenant: str, points: list[RetainedPoint]) -> frozenset[int]:
        seen[tenant] = [p.tree_size for p in points]
        return _even(tenant, points)

    assert compact(path, rule) == (4, 2)
    assert seen == {"a": [1, 2, 3], "b": [1]}
    assert path.read_text().splitlines() == [
        _line("b", 1).strip(),
        _line("a", 2).strip(),
        "not json",
        '{"tenant": "a", "tree_si',
    ]
    assert [w.tree_size for w in read_witnessed(path, "a")] == [2]
    assert read_witnessed(path, "a")[0].issued_at == START + timedelta(minutes=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoints.jsonl",
        "checkpoints.jsonl.lock",
    ]


def test_nothing_dropped_leaves_the_file_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.jsonl"
    path.write_text(_line("b", 1) + _line("b", 2))
    inode = path.stat().st_ino
    assert compact(path, _even) == (2, 0)
    assert path.stat().st_ino == inode


def test_no_file_no_compaction(tmp_path: Path) -> None:
    assert compact(tmp_path / "none.jsonl", _even) == (0, 0)
    assert read_witnessed(tmp_path / "none.jsonl", "a") == []
