"""Offline verification of a bundle: CPU time per event, this checkout against a baseline
checkout (e.g. main) on the same bundle, in the same run.

A whole tenant's bundle is generated (decisions proposed, approved and finalized, chained as
the service chains them, one first-format checkpoint signed over them all, which both versions
read), then `verify_bundle` runs once per checkout in a fresh interpreter, and the CPU time of
the call is printed with the ratio.

Example:
    python tests/benchmarks/bundle_verify.py --events 300000 --baseline /work/main
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from aval.verifier import merkle_tree  # noqa: E402
from aval.verifier.chain import GENESIS_HASH, canonical_json, chain_hash, utc_iso  # noqa: E402
from aval.verifier.notes import format_note, key_id, raw_public_key  # noqa: E402

TENANT = "bench-bundle"

# Run in the checkout given first: CPU time of verify_bundle on the bundle given second.
_MEASURE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from aval.verifier.bundle import verify_bundle
from aval.verifier.notes import parse_note, verify_signature
key = bytes.fromhex(sys.argv[3])
start = time.process_time()
reports = verify_bundle(Path(sys.argv[2]), public_key=key, signature_ok=verify_signature,
                        parse_note=parse_note)
spent = time.process_time() - start
print(json.dumps({"cpu": spent, "ok": all(r.ok for r in reports),
                  "events": sum(r.events_checked for r in reports)}))
"""


def _body(
    decision: str, at: datetime, kind: str, actor: str, data: dict[str, object]
) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "tenant": TENANT,
        "occurred_at": utc_iso(at),
        "decision_id": decision,
        "kind": kind,
        "actor": {"id": actor, "type": "system" if actor in ("app", "system") else "human"},
        "trace_id": uuid.uuid4().hex,
        "data": data,
    }


def _bodies(events: int) -> list[dict[str, object]]:
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    bodies: list[dict[str, object]] = []
    for n in range(events // 3):
        decision = str(uuid.UUID(int=n + 1))
        at = start + timedelta(minutes=n)

        def body(kind: str, actor: str, minutes: int, data: dict[str, object]) -> dict[str, object]:
            return _body(decision, at + timedelta(minutes=minutes), kind, actor, data)  # noqa: B023

        output = {"category": "voirie", "priority": n % 3}
        bodies += [
            body(
                "decision.proposed",
                "app",
                0,
                {
                    "decision_state": "PENDING_REVIEW",
                    "decision_version": 1,
                    "required_approvals": 1,
                    "rejections_to_close": 1,
                    "deadline": utc_iso(at + timedelta(days=2)),
                    "suggestion": {"output": output, "confidence": 0.9},
                },
            ),
            body(
                "review.recorded",
                f"agent-{n % 7}",
                5,
                {
                    "decision_state": "APPROVED",
                    "decision_version": 2,
                    "verdict": "APPROVE",
                    "eligible_roles": ["supervisor"],
                    "reviewer_roles": ["supervisor"],
                },
            ),
            body(
                "decision.finalized",
                "system",
                5,
                {"decision_state": "APPROVED", "decision_version": 2, "outcome": output},
            ),
        ]
    return bodies


def write_bundle(folder: Path, events: int, private: Ed25519PrivateKey) -> str:
    """Writes a whole tenant's bundle of about `events` events; returns the key in hex."""
    folder.mkdir()
    prev, frontier = GENESIS_HASH, merkle_tree.Frontier()
    with (folder / "events.jsonl").open("w", encoding="utf-8") as out:
        for seq, body in enumerate(_bodies(events), start=1):
            raw = canonical_json(body)
            digest = chain_hash(prev, seq, raw)
            frontier.append(merkle_tree.leaf_hash(raw))
            actor = body["actor"]
            assert isinstance(actor, dict)
            line = {
                "tenant": TENANT,
                "seq": seq,
                "event_id": body["event_id"],
                "occurred_at": body["occurred_at"],
                "decision_id": body["decision_id"],
                "kind": body["kind"],
                "actor_id": actor["id"],
                "actor_type": actor["type"],
                "trace_id": body["trace_id"],
                "schema_version": 1,
                "data": body["data"],
                "prev_hash": prev.hex(),
                "hash": digest.hex(),
                "canonical": base64.b64encode(raw).decode(),
            }
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            prev = digest
    public = raw_public_key(private.public_key())
    fields: dict[str, str | int] = {
        "tenant": TENANT,
        "tree_size": frontier.size,
        "root_hash": frontier.root().hex(),
        "head_hash": prev.hex(),
        "issued_at": utc_iso(datetime.now(UTC)),
        "key_id": key_id(public),
    }
    note = format_note(fields)
    line = dict(
        fields,
        signed_note=base64.b64encode(note).decode(),
        signature=base64.b64encode(private.sign(note)).decode(),
    )
    (folder / "checkpoints.jsonl").write_text(json.dumps(line) + "\n")
    (folder / "public_key.txt").write_text(public.hex() + "\n")
    (folder / "README.md").write_text("benchmark bundle\n")
    return public.hex()


def _manifest(folder: Path, events: int, key: str) -> None:
    from aval.verifier.bundle import FORMAT, HASHED_FILES, sha256_file

    manifest = {
        "format": FORMAT,
        "tenant": TENANT,
        "scope": "tenant",
        "filters": {},
        "created_at": utc_iso(datetime.now(UTC)),
        "events": events,
        "checkpoints": 1,
        "key_id": key_id(bytes.fromhex(key)),
        "sha256": {name: sha256_file(folder / name) for name in HASHED_FILES},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _measure(checkout: Path, folder: Path, key: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", _MEASURE, str(checkout), str(folder), key],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "bundle"
        key = write_bundle(folder, args.events, Ed25519PrivateKey.generate())
        events = len((folder / "events.jsonl").read_text().splitlines())
        _manifest(folder, events, key)
        baseline = _measure(args.baseline, folder, key)
        this = _measure(ROOT, folder, key)
    for name, found in (("baseline", baseline), ("this checkout", this)):
        rate = found["events"] / found["cpu"]
        print(
            f"{name:>14}: {found['events']:.0f} events, ok={found['ok']}, "
            f"{found['cpu']:.2f} s CPU, {rate:,.0f} events/s, "
            f"{1e6 * found['cpu'] / found['events']:.1f} µs/event"
        )
    print(f"ratio (this / baseline CPU): {this['cpu'] / baseline['cpu']:.2f}")


if __name__ == "__main__":
    main()
