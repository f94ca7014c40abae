"""docs/openapi.json is what proto/openapi.py makes of the protos now (`make proto` rewrites
it, `make proto-check` fails when it is stale), and follows the proto3 JSON mapping."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aval_openapi", ROOT / "proto" / "openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_description_is_fresh() -> None:
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == generator().render(), "stale docs/openapi.json: run `make proto`"


def test_the_description_follows_the_proto3_json_mapping() -> None:
    document = json.loads(generator().render())
    schemas = document["components"]["schemas"]
    usage = schemas["aval.v1.GetUsageResponse"]
    assert usage["additionalProperties"] is False
    report = next(
        s for name, s in schemas.items() if "properties" in s and "metrics" in s["properties"]
    )
    assert report["properties"]["metrics"]["additionalProperties"] == {"type": "number"}
    system = schemas["aval.v1.AISystem"]["properties"]
    assert system["timeout"]["type"] == "string"  # Duration: "1.5s"
    assert system["energyMwhPer1kTokens"]["format"] == "int64"
