"""What the reviewer registry and reload tests share: a policy folder of their own, with a
decision type that requires qualified reviewers, and the Paris days of the servers' clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support import POLICIES

QUALIFIED_TYPE = "registre.test"
# Appended to ville-a's decision types: a type whose reviewers need a qualification (R11).
QUALIFIED = f"""
  {QUALIFIED_TYPE}:
    purpose: "tester le registre des examinateurs"
    required_approvals: 1
    deadline: 30d
    qualified_reviewers: required
"""


def write_policies(folder: Path, extra_ville_a: str = QUALIFIED) -> Path:
    """The test policies, ville-a's with `extra_ville_a` appended; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for tenant, text in POLICIES.items():
        more = extra_ville_a if tenant == "ville-a" else ""
        (folder / f"{tenant}.yaml").write_text(text.rstrip("\n") + "\n" + more, encoding="utf-8")
    return folder


def paris_day(moment: datetime, days: int = 0) -> date:
    return (moment.astimezone(ZoneInfo("Europe/Paris")) + timedelta(days=days)).date()


def french(day: date) -> str:
    return f"{day:%d/%m/%Y}"
