"""Regenerates the Python code of the wire contract (aval/v1, imported as aval.v1) from
proto/aval/v1/*.proto.

Also writes the OpenAPI description of the HTTP/JSON door (proto/openapi.py).

Run `python proto/generate.py` after editing a .proto file; `--check` exits non-zero when the
committed code is stale. Never edit the generated files by hand.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
SOURCE_DIR = PROTO_ROOT / "aval" / "v1"
# The generated modules live in the package itself, where `import aval.v1` finds them.
PACKAGE_DIR = PROTO_ROOT.parent / "aval" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    path = shutil.which(name, path=str(scripts)) or shutil.which(name)
    if path is None:
        sys.exit(f"{name} not found: install the dev dependencies (make setup)")
    return path


def generate(out_dir: Path) -> list[Path]:
    """Runs protoc over every .proto of aval/v1 into out_dir; returns the files written."""
    from grpc_tools import protoc  # dev dependency, imported late so --help works without it

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in SOURCE_DIR.glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    return sorted(
        p for p in (out_dir / "aval" / "v1").iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    )


def stale_files() -> list[str]:
    """Names of generated files that differ from what the .proto files produce now."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp))}
        committed = {
            p.name: p for p in PACKAGE_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)
        }
        names = sorted(set(fresh) | set(committed))
        return [
            n
            for n in names
            if n not in fresh
            or n not in committed
            or not filecmp.cmp(fresh[n], committed[n], shallow=False)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    options = parser.parse_args()
    import openapi  # proto/openapi.py, beside this script

    if options.check:
        stale = stale_files()
        if openapi.is_stale():
            stale.append(str(openapi.OUTPUT.relative_to(PROTO_ROOT.parent)))
        if stale:
            sys.exit("stale generated code, run `make proto`: " + ", ".join(stale))
        print("generated code is up to date")
        return
    for old in PACKAGE_DIR.iterdir():
        if old.name.endswith(GENERATED_SUFFIXES):
            old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            shutil.copy2(path, PACKAGE_DIR / path.name)
            print(f"wrote {(PACKAGE_DIR / path.name).relative_to(PROTO_ROOT.parent)}")
    openapi.write()


if __name__ == "__main__":
    main()
