"""Every catalogue of texts says everything in French and English, with the same placeholders,
all filled when rendered, and holds every key the code asks for."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Collection, Iterator
from importlib import resources
from pathlib import Path

import pytest

from aval import texts
from aval.audit_store.records import DecisionState, Verdict
from aval.service import errors
from aval.service.ai import egress
from aval.texts import LANGUAGES, MissingParameter, placeholders, render

ROOT = Path(__file__).resolve().parents[2]
DATA = resources.files("aval.texts").joinpath("data")
NAMES = sorted(Path(str(DATA)).glob("*.toml"))
# A French text may name a parameter in its French form (the verdict as a French verb).
FRENCH_FORMS = {"verdict_fr": "verdict"}


@pytest.fixture(params=[path.stem for path in NAMES])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_there_are_catalogues() -> None:
    assert {path.stem for path in NAMES} >= {"refusals", "violations", "cli", "advice"}


def test_every_text_is_in_french_and_english_and_keys_are_sorted(name: str) -> None:
    raw = tomllib.loads(DATA.joinpath(f"{name}.toml").read_text("utf-8"))
    assert set(raw) == {"catalogue", "texts"}, name
    assert raw["catalogue"]["default"] in LANGUAGES
    keys = list(raw["texts"])
    assert keys == sorted(keys), f"{name}: keys not sorted"
    for key, text in raw["texts"].items():
        assert set(text) == set(LANGUAGES), f"{name}:{key} has {sorted(text)}"
        for language in LANGUAGES:
            assert isinstance(text[language], str) and text[language], f"{name}:{key}:{language}"


def test_both_languages_take_the_same_named_placeholders(name: str) -> None:
    catalogue = texts.load(name)
    for key, text in catalogue.texts.items():
        for language in LANGUAGES:
            # Positional placeholders ("{}") cannot be checked against their parameters.
            assert "{}" not in text[language].replace("{{}}", ""), f"{name}:{key}:{language}"
        french = {FRENCH_FORMS.get(p, p) for p in placeholders(text["fr"])}
        assert french == placeholders(text["en"]), f"{name}:{key}"


def test_every_placeholder_is_filled_and_a_missing_parameter_is_an_error(name: str) -> None:
    catalogue = texts.load(name)
    for key, text in catalogue.texts.items():
        for language in LANGUAGES:
            wanted = placeholders(text[language])
            rendered = render(catalogue, key, language, **{p: f"<{p}>" for p in wanted})
            for p in wanted:
                assert f"<{p}>" in rendered, f"{name}:{key}:{language}"
            for missing in wanted:
                params = {p: "x" for p in wanted if p != missing}
                with pytest.raises(MissingParameter):
                    render(catalogue, key, language, **params)


def test_a_text_falls_back_to_the_catalogue_language() -> None:
    refusals, cli = texts.load("refusals"), texts.load("cli")
    assert render(refusals, "UNKNOWN_TOKEN", "de") == render(refusals, "UNKNOWN_TOKEN", "en")
    assert render(cli, "error", "de") == render(cli, "error", "fr")


def _calls(path: Path, names: set[str]) -> Iterator[tuple[ast.Call, str]]:
    """Calls of a function or method named in `names`, with that name."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called in names:
                yield node, called


def _keys(paths: list[Path], names: set[str], position: int = 0) -> tuple[set[str], set[str]]:
    """The literal keys, and the constant prefixes of f-string keys, passed to `names`."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in paths:
        for call, _ in _calls(path, names):
            if len(call.args) <= position:
                continue
            arg = call.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                keys.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                prefixes.add(str(arg.values[0].value))
    return keys, prefixes


def _assert_known(name: str, keys: set[str], prefixes: Collection[str] = ()) -> None:
    catalogue = texts.load(name)
    assert keys, name
    assert sorted(keys - set(catalogue.texts)) == [], name
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in catalogue.texts), f"{name}: {prefix}*"


def test_every_cli_key_the_code_uses_exists() -> None:
    clients = sorted((ROOT / "aval" / "clients").rglob("*.py"))
    stats = [ROOT / "aval" / "clients" / "cli" / "stats_report.py"]
    others = [path for path in clients if path not in stats]
    _assert_known("cli", *_keys(others, {"t", "_t"}))
    _assert_known("cli", _keys(others, {"add"}, position=2)[0])
    _assert_known("stats", *_keys(stats, {"t", "texts"}))
    _assert_known("stats", *_keys([ROOT / "aval" / "clients" / "cli" / "stats.py"], {"texts"}))


def _domain_errors() -> set[str]:
    found: set[str] = set()
    todo: list[type] = [errors.DomainError]
    while todo:
        kind = todo.pop()
        found.add(kind.__name__)
        todo += kind.__subclasses__()
    return found


def test_every_refusal_reason_the_server_raises_exists() -> None:
    service = sorted((ROOT / "aval" / "service").rglob("*.py"))
    _assert_known("refusals", _keys(service, _domain_errors())[0])
    _assert_known("violations", _keys(service, {"FieldViolation"}, position=1)[0])
    requests = "".join(
        path.read_text("utf-8") for path in (ROOT / "aval" / "service" / "requests").glob("*.py")
    )
    _assert_known("violations", set(re.findall(r'": "([A-Z][A-Z_]+)"', requests)))


def test_every_reason_without_suggestion_exists() -> None:
    advice = (ROOT / "aval" / "service" / "decisions" / "advice.py").read_text("utf-8")
    used = set(re.findall(r'"((?:AI|HIGH_RISK)_[A-Z_]+)"', advice))
    known = set(texts.load("advice").texts) | set(texts.load("refusals").texts)
    assert used and used <= known
    for reason in (
        egress.ENDPOINT_NOT_ALLOWED,
        egress.ENDPOINT_UNRESOLVED,
        egress.SECRET_NOT_DECLARED,
        egress.SECRET_UNSET,
    ):
        assert f"AI_{reason}" in texts.load("advice")


def test_every_explanation_key_exists() -> None:
    audit = ROOT / "aval" / "service" / "audit"
    _assert_known("explanation", *_keys([audit / "explanation.py"], {"t", "_text"}))
    _assert_known("inspection", *_keys([audit / "explanation_inspector.py"], {"t"}))
    explanation = texts.load("explanation")
    for state in DecisionState:
        assert f"state.{state.name}" in explanation and f"degree.{state.name}" in explanation
    for verdict in Verdict:
        assert f"verdict.{verdict.name}" in explanation


def test_every_advisor_refusal_exists() -> None:
    demo = ROOT / "aval" / "service" / "ai" / "advisor_demo" / "refusals.py"
    _assert_known("advisor_refusals", _keys([demo], {"_worded"})[0])


def test_the_texts_package_is_pure() -> None:
    # The command line and the SDK import it: it must not bring the server along.
    code = (
        "import sys, aval.texts; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'psycopg', 'casbin', "
        "'pydantic'}), [m for m in sys.modules if m.startswith('aval.service')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] []"
