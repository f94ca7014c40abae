"""Every ordinary Python tool finds `aval.*` where the files are: pyright and jedi, from the
repository and from anywhere else through the installed environment (issue 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jedi
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYRIGHT = shutil.which("basedpyright", path=str(Path(sys.executable).parent))

# A module outside the repository that imports the server, the SDK and the contract.
PROBE = """\
from aval.service.identity import token_hash
from aval.clients import Client
import aval.v1.gateway_pb2
"""


def _pyright(args: list[str], cwd: Path) -> dict[str, object]:
    assert PYRIGHT, "basedpyright is a dev dependency: run `make setup`"
    done = subprocess.run(
        [PYRIGHT, "--outputjson", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _unresolved(report: dict[str, object]) -> list[str]:
    diagnostics = report["generalDiagnostics"]
    assert isinstance(diagnostics, list)
    return [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in diagnostics
        if d.get("rule") == "reportMissingImports"
    ]


def test_pyright_resolves_every_import_of_the_package_and_the_tests() -> None:
    # [tool.pyright] in pyproject.toml (aval/ and tests/), named so that no configuration file
    # in a folder above the checkout can take its place.
    report = _pyright(["--project", str(ROOT / "pyproject.toml")], ROOT)
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["filesAnalyzed"] > 100
    assert _unresolved(report) == []


def _outside(tmp_path: Path) -> Path:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    venv = Path(sys.prefix)
    config = {
        "typeCheckingMode": "off",
        "reportMissingImports": "error",
        "venvPath": str(venv.parent),
        "venv": venv.name,
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return probe


def test_pyright_outside_the_repository_resolves_aval_through_the_install(
    tmp_path: Path,
) -> None:
    probe = _outside(tmp_path)
    config = str(tmp_path / "pyrightconfig.json")
    report = _pyright(["--project", config, str(probe)], tmp_path)
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["filesAnalyzed"] == 1
    assert _unresolved(report) == []


@pytest.mark.parametrize(
    ("line", "column", "target"),
    [(1, 40, "aval/service/identity.py"), (2, 27, "aval/clients/sdk/client.py")],
)
def test_jedi_goes_to_the_definition_in_the_repository(
    tmp_path: Path, line: int, column: int, target: str
) -> None:
    probe = _outside(tmp_path)
    environment = jedi.create_environment(sys.executable, safe=False)
    script = jedi.Script(path=probe, project=jedi.Project(tmp_path), environment=environment)
    found = script.goto(line, column, follow_imports=True)
    assert [d.module_path for d in found] == [ROOT / target]


def test_jedi_goes_from_a_test_file_into_the_server() -> None:
    support = ROOT / "tests" / "support.py"
    source = support.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(source, 1) if "import token_hash" in text)
    column = source[line - 1].index("token_hash") + 2
    script = jedi.Script(path=support, project=jedi.Project(ROOT))
    found = script.goto(line, column, follow_imports=True)
    assert [d.module_path for d in found] == [ROOT / "aval" / "service" / "identity.py"]
