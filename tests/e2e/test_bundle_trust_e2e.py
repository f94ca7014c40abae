"""Bundles a stranger can verify and trust (issue 12, item 5), through the real server and CLI
on real PostgreSQL: readable fields checked against the hashed bytes, the manifest recomputed,
the tenant named, filtered bundles with an inclusion proof per event, and an independent
verifier written from the bundle's README alone that agrees with `aval audit verify --offline`
on every case."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.clients.sdk.errors import InvalidArgumentError, NotFoundError
from aval.verifier import merkle, signed_note
from aval.verifier.chain import canonical_json, chain_hash
from aval.verifier.notes import NOTE_FIELDS, format_note
from tests.support import TEST_SIGNING_KEY, ServerProcess

from .conftest import ClientOf
from .helpers import propose_kwargs, run_cli

NO_SERVER = "127.0.0.1:9"  # nothing listens there: offline verification must not need it
INDEPENDENT = Path(__file__).parent / "independent_verifier" / "verifier.py"
HASHED = ("events.jsonl", "checkpoints.jsonl", "public_key.txt", "README.md")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _texts(path)]


def _texts(path: Path) -> list[str]:
    return [line for line in path.read_text().split("\n") if line.strip()]


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def _recompute_manifest(folder: Path, **changes: Any) -> None:
    """What a forger does after an edit: every figure and hash of the manifest made to fit."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["events"] = len(_texts(folder / "events.jsonl"))
    manifest["checkpoints"] = len(_texts(folder / "checkpoints.jsonl"))
    manifest["sha256"] = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in HASHED
    }
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _aval_verdict(folder: Path, key: str, *extra: str) -> tuple[bool, set[str]]:
    args = ("audit", "verify", "--offline", str(folder), "--public-key", key, *extra)
    done = run_cli(NO_SERVER, None, "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    decoder, text, kinds, position = json.JSONDecoder(), done.stdout, set(), 0
    reports = []
    while text[position:].strip():
        while text[position].isspace():
            position += 1
        report, position = decoder.raw_decode(text, position)
        reports.append(report)
    for report in reports:
        kinds |= {problem["kind"] for problem in report.get("problems", [])}
    ok = all(report["ok"] for report in reports)
    assert ok == (done.returncode == 0)
    return ok, kinds


def _independent_verdict(folder: Path, key: str, *extra: str) -> tuple[bool, set[str]]:
    # -I: isolated, so that nothing of this checkout can be imported by accident.
    done = subprocess.run(
        [sys.executable, "-I", str(INDEPENDENT), str(folder), "--public-key", key, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["modules"] == []
    return result["ok"], {problem["kind"] for problem in result["problems"]}


def _agree(folder: Path, key: str, *extra: str) -> tuple[bool, set[str]]:
    """Both verifiers' verdicts, which must be the same: ok, and the problems' names."""
    ours, theirs = _aval_verdict(folder, key, *extra), _independent_verdict(folder, key, *extra)
    assert ours == theirs, (ours, theirs)
    return ours


@pytest.fixture(scope="module")
def bundles(
    server: ServerProcess, client_of: ClientOf, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A whole tenant's bundle and one decision's, exported with no --tenant."""
    app, supervisor = client_of("app-a"), client_of("sup-a3")
    case = app.propose(**propose_kwargs("voirie.signalement")).decision
    supervisor.decide(case.id, verdict="approve")
    other = app.propose(**propose_kwargs("voirie.signalement")).decision
    supervisor.decide(other.id, verdict="approve")
    root = tmp_path_factory.mktemp("bundles")
    made = {"decision": case.id, "tenant": case.tenant, "key": server.public_key.hex()}
    for name, extra in (("full", []), ("case", ["--decision", case.id])):
        folder = root / name
        done = run_cli(server.address, "insp-a", "audit", "export", "--bundle", str(folder), *extra)
        assert done.returncode == 0, done.stderr
        made[name] = folder
    return made


def _copy(bundles: dict[str, Any], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundles[name], tmp_path / name))


def test_untouched_bundles_verify_clean_and_name_their_tenant(bundles: dict[str, Any]) -> None:
    full, case = bundles["full"], bundles["case"]
    assert _agree(full, bundles["key"]) == (True, set())
    assert _agree(case, bundles["key"]) == (True, set())
    for folder, scope in ((full, "tenant"), (case, "filtered")):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["tenant"] == bundles["tenant"] != ""
        assert manifest["scope"] == scope
        assert f"`{bundles['tenant']}`" in (folder / "README.md").read_text()
    # The filtered bundle holds only the decision's events, each with its proof against the
    # one checkpoint it carries (signed by the export itself: the inspector may sign).
    events = _lines(case / "events.jsonl")
    [checkpoint] = _lines(case / "checkpoints.jsonl")
    assert events and {e["decision_id"] for e in events} == {bundles["decision"]}
    assert len(events) < len(_lines(full / "events.jsonl"))
    assert all(e["inclusion"]["tree_size"] == checkpoint["tree_size"] for e in events)
    assert all(e["inclusion"]["leaf_index"] == e["seq"] - 1 for e in events)
    manifest = json.loads((case / "manifest.json").read_text())
    assert manifest["filters"] == {"decision_id": bundles["decision"]}
    # The reader is told what a bundle of a whole decision proves, and what it does not.
    args = ("audit", "verify", "--offline", str(case), "--public-key", bundles["key"])
    done = run_cli(NO_SERVER, None, *args)
    assert done.returncode == 0 and "lot de décisions entières" in done.stderr
    assert "n'est pas prouvé absent" in done.stderr


def _edit_data(folder: Path) -> None:
    lines = _lines(folder / "events.jsonl")
    target = next(line for line in lines if line["kind"] == "decision.finalized")
    target["data"]["outcome"] = {"forged": True}
    _write_lines(folder / "events.jsonl", lines)


def _edit_canonical(folder: Path) -> None:
    lines = _lines(folder / "events.jsonl")
    raw = base64.b64decode(lines[1]["canonical"]).replace(b'"trace_id":"', b'"trace_id":"x', 1)
    lines[1]["canonical"] = base64.b64encode(raw).decode()
    _write_lines(folder / "events.jsonl", lines)


def _alter_proof(folder: Path) -> None:
    lines = _lines(folder / "events.jsonl")
    node = lines[0]["inclusion"]["audit_path"][0]
    lines[0]["inclusion"]["audit_path"][0] = ("0" if node[0] != "0" else "1") + node[1:]
    _write_lines(folder / "events.jsonl", lines)


def _edit_note(folder: Path) -> None:
    lines = _lines(folder / "checkpoints.jsonl")
    note = base64.b64decode(lines[-1]["signed_note"]).decode()
    size = lines[-1]["tree_size"]
    # The size line of a C2SP checkpoint (its second line), or of the first format.
    note = note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1).replace(
        f"tree_size: {size}\n", f"tree_size: {size + 1}\n"
    )
    assert note != base64.b64decode(lines[-1]["signed_note"]).decode()
    lines[-1]["signed_note"] = base64.b64encode(note.encode()).decode()
    lines[-1]["tree_size"] = size + 1
    _write_lines(folder / "checkpoints.jsonl", lines)


def _forge_tail(folder: Path) -> None:
    """A well-chained event appended after the last checkpoint."""
    lines = _lines(folder / "events.jsonl")
    last = lines[-1]
    forged = dict(last, seq=last["seq"] + 1, prev_hash=last["hash"])
    raw = base64.b64decode(last["canonical"])
    seq = forged["seq"].to_bytes(8, "big", signed=True)
    forged["hash"] = hashlib.sha256(bytes.fromhex(last["hash"]) + seq + raw).hexdigest()
    _write_lines(folder / "events.jsonl", [*lines, forged])


def _drop_checkpoint(folder: Path) -> None:
    lines = _lines(folder / "checkpoints.jsonl")
    _write_lines(folder / "checkpoints.jsonl", lines[:-1])


def _unprove(folder: Path) -> None:
    lines = _lines(folder / "events.jsonl")
    lines[-1]["inclusion"] = None
    _write_lines(folder / "events.jsonl", lines)


def _leave_out(kind: str) -> Callable[[Path], None]:
    """The case's bundle without its event(s) of one kind: what an exporter who hides part of a
    decision's life would hand a citizen or a court."""

    def tamper(folder: Path) -> None:
        lines = _lines(folder / "events.jsonl")
        kept = [line for line in lines if line["kind"] != kind]
        assert len(kept) < len(lines), kind
        _write_lines(folder / "events.jsonl", kept)

    return tamper


CASES: list[tuple[str, str, Callable[[Path], None], set[str]]] = [
    ("readable data edited", "full", _edit_data, {"readable_field_mismatch"}),
    ("readable data edited", "case", _edit_data, {"readable_field_mismatch"}),
    (
        "canonical byte edited",
        "full",
        _edit_canonical,
        {"readable_field_mismatch", "hash_mismatch", "rewritten_history"},
    ),
    (
        "canonical byte edited",
        "case",
        _edit_canonical,
        {"readable_field_mismatch", "hash_mismatch", "bad_inclusion_proof"},
    ),
    ("one proof altered", "case", _alter_proof, {"bad_inclusion_proof"}),
    ("checkpoint note edited", "full", _edit_note, {"bad_signature", "unsigned_events"}),
    (
        "checkpoint note edited",
        "case",
        _edit_note,
        {"bad_signature", "proof_checkpoint_missing"},
    ),
    ("forged tail", "full", _forge_tail, {"unsigned_events"}),
    ("event with no proof", "case", _unprove, {"unsigned_events"}),
    ("proposal left out", "case", _leave_out("decision.proposed"), {"decision_events_missing"}),
    ("verdict left out", "case", _leave_out("review.recorded"), {"decision_events_missing"}),
    (
        "finalization left out",
        "case",
        _leave_out("decision.finalized"),
        {"decision_events_missing"},
    ),
    ("dropped checkpoint", "full", _drop_checkpoint, {"unsigned_events"}),
    (
        "dropped checkpoint",
        "case",
        _drop_checkpoint,
        {"proof_checkpoint_missing"},
    ),
]


@pytest.mark.parametrize(
    ("what", "bundle", "tamper", "named"), CASES, ids=[f"{c[1]}: {c[0]}" for c in CASES]
)
def test_tampering_is_named_alike_by_both_verifiers(
    bundles: dict[str, Any],
    tmp_path: Path,
    what: str,
    bundle: str,
    tamper: Callable[[Path], None],
    named: set[str],
) -> None:
    folder = _copy(bundles, bundle, tmp_path)
    tamper(folder)
    _recompute_manifest(folder)  # the forger covers their tracks: the manifest fits the files
    ok, kinds = _agree(folder, bundles["key"])
    assert not ok and kinds == named, what


def test_an_edited_file_or_manifest_is_named(bundles: dict[str, Any], tmp_path: Path) -> None:
    # A file edited, the manifest left alone.
    folder = _copy(bundles, "case", tmp_path)
    _edit_data(folder)
    assert _agree(folder, bundles["key"]) == (
        False,
        {"readable_field_mismatch", "file_changed"},
    )
    # The manifest's own figures edited, the files left alone.
    for change in ({"tenant": "autre-commune"}, {"events": 1}, {"key_id": "0" * 16}):
        folder = _copy(bundles, "full", tmp_path / next(iter(change)))
        _recompute_manifest(folder, **change)
        assert _agree(folder, bundles["key"]) == (False, {"manifest_mismatch"}), change
    # A filtered bundle whose stated filter its events do not match.
    folder = _copy(bundles, "case", tmp_path / "filter")
    _recompute_manifest(folder, filters={"decision_id": "00000000-0000-0000-0000-000000000000"})
    assert _agree(folder, bundles["key"]) == (False, {"manifest_mismatch"})


def test_a_bundle_filtered_by_kind_holds_parts_of_decisions_and_verifies(
    bundles: dict[str, Any], server: ServerProcess, tmp_path: Path
) -> None:
    """Only a bundle of whole decisions (filtered by decision alone) is held to holding every
    event of them: one of the verdicts alone leaves out every proposal, rightly."""
    folder = tmp_path / "verdicts"
    done = run_cli(
        server.address,
        "insp-a",
        "audit",
        "export",
        "--bundle",
        str(folder),
        "--decision",
        bundles["decision"],
        "--kind",
        "review.recorded",
    )
    assert done.returncode == 0, done.stderr
    assert {line["kind"] for line in _lines(folder / "events.jsonl")} == {"review.recorded"}
    assert _agree(folder, bundles["key"]) == (True, set())
    # What the verification tells a reader of each: omissions detected in whole decisions only.
    said = {}
    for name, path in (("verdicts", folder), ("case", bundles["case"])):
        args = ("--lang", "en", "audit", "verify", "--offline", str(path))
        done = run_cli(NO_SERVER, None, *args, "--public-key", bundles["key"])
        assert done.returncode == 0, done.stderr
        said[name] = done.stderr
    assert "that no matching event was left out is not proven" in said["verdicts"]
    assert "an event left out within a decision is detected" in said["case"]
    # The same events, their manifest saying they are the decision's whole life: named.
    _recompute_manifest(folder, filters={"decision_id": bundles["decision"]})
    assert _agree(folder, bundles["key"]) == (False, {"decision_events_missing"})


def test_another_key_fails_both(bundles: dict[str, Any]) -> None:
    ok, kinds = _agree(bundles["case"], "00" * 32)
    assert not ok and "bad_signature" in kinds


def _first_format(folder: Path) -> None:
    """Each checkpoint as the first format (`aval.v1/checkpoint`) signed it, by the same key:
    history signed before the C2SP notes."""
    lines = _lines(folder / "checkpoints.jsonl")
    for line in lines:
        note = format_note({name: line[name] for name in NOTE_FIELDS})
        line["signed_note"] = base64.b64encode(note).decode()
        line["signature"] = base64.b64encode(TEST_SIGNING_KEY.sign(note)).decode()
        line.pop("origin", None)
        line.pop("note", None)
    _write_lines(folder / "checkpoints.jsonl", lines)


def test_checkpoints_of_the_first_format_stay_verifiable(
    bundles: dict[str, Any], tmp_path: Path
) -> None:
    assert bundles["key"] == TEST_SIGNING_KEY.public_key_raw.hex()
    for name in ("full", "case"):
        folder = _copy(bundles, name, tmp_path / name)
        _first_format(folder)
        _recompute_manifest(folder)
        assert _agree(folder, bundles["key"]) == (True, set()), name
        _edit_note(folder)
        _recompute_manifest(folder)
        ok, kinds = _agree(folder, bundles["key"])
        assert not ok and "bad_signature" in kinds, name


def test_export_events_proves_each_event_against_the_checkpoint_asked(
    bundles: dict[str, Any], client_of: ClientOf
) -> None:
    inspector = client_of("insp-a")
    first = inspector.create_checkpoint()
    client_of("app-a").propose(**propose_kwargs("voirie.signalement"))
    last = inspector.create_checkpoint()
    assert first.tree_size < last.tree_size
    text = b"".join(
        chunk.chunk
        for chunk in inspector.export_events(
            kind="decision.proposed", inclusion_proofs=True, proof_tree_size=first.tree_size
        )
    ).decode()
    lines = [json.loads(line) for line in text.split("\n") if line]
    assert {line["kind"] for line in lines} == {"decision.proposed"}
    before = [line for line in lines if line["seq"] <= first.tree_size]
    after = [line for line in lines if line["seq"] > first.tree_size]
    assert after and all(line["inclusion"] is None for line in after)
    root = bytes.fromhex(first.root_hash)
    for line in before:
        proof = line["inclusion"]
        leaf = merkle.leaf_hash(base64.b64decode(line["canonical"]))
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        assert merkle.verify_inclusion(leaf, line["seq"] - 1, first.tree_size, path, root)
    # Proofs lead to one tenant's tree, in JSON Lines only.
    with pytest.raises(InvalidArgumentError):
        list(inspector.export_events(format="csv", inclusion_proofs=True))
    with pytest.raises(NotFoundError):
        list(inspector.export_events(inclusion_proofs=True, proof_tree_size=last.tree_size + 10**6))


def _signed_line(origin: str, size: int, root: bytes, head: bytes, issued_at: str) -> str:
    """A C2SP checkpoint line signed with the deployment's key, as its holder can."""
    text = signed_note.Checkpoint(
        origin, size, root, signed_note.aval_extensions(head, issued_at)
    ).encode()
    signature = TEST_SIGNING_KEY.sign(text)
    name = origin.rpartition("/")[0]
    key = TEST_SIGNING_KEY.public_key_raw
    own = signed_note.SignatureLine(
        name, signed_note.key_hash(name, signed_note.ED25519, key), signature
    )
    line = {
        "tenant": signed_note.tenant_of(origin),
        "tree_size": size,
        "root_hash": root.hex(),
        "head_hash": head.hex(),
        "issued_at": issued_at,
        "key_id": hashlib.sha256(key).hexdigest()[:16],
        "signed_note": base64.b64encode(text).decode(),
        "signature": base64.b64encode(signature).decode(),
        "origin": origin,
        "note": signed_note.Note(text, (own,)).encode().decode(),
    }
    return json.dumps(line)


def test_the_policy_is_re_proved_from_a_signed_trail_whole_or_filtered(
    bundles: dict[str, Any], tmp_path: Path
) -> None:
    """A trail the key holder rewrote and signed whole: the decision's proposal now demands two
    approvals and has one. Chain, proofs and signature hold; the policy does not, and both
    verifiers say so, from the whole tenant's bundle and from the decision's alone."""
    lines = _lines(bundles["full"] / "events.jsonl")
    [last_checkpoint, *_] = reversed(_lines(bundles["full"] / "checkpoints.jsonl"))
    prev, leaves = bytes(32), []
    for line in lines:
        body = json.loads(base64.b64decode(line["canonical"]))
        if body["kind"] == "decision.proposed" and body["decision_id"] == bundles["decision"]:
            assert body["data"]["required_approvals"] == 1
            body["data"]["required_approvals"] = 2
            line["data"] = body["data"]
        raw = canonical_json(body)
        line.update(canonical=base64.b64encode(raw).decode(), prev_hash=prev.hex())
        prev = chain_hash(prev, line["seq"], raw)
        line["hash"] = prev.hex()
        leaves.append(merkle.leaf_hash(raw))
    checkpoint = _signed_line(
        last_checkpoint["origin"],
        len(lines),
        merkle.root(leaves),
        prev,
        last_checkpoint["issued_at"],
    )
    full = _copy(bundles, "full", tmp_path)
    _write_lines(full / "events.jsonl", lines)
    (full / "checkpoints.jsonl").write_text(checkpoint + "\n")
    _recompute_manifest(full)
    assert _agree(full, bundles["key"]) == (False, {"policy_quorum_not_met"})

    case = _copy(bundles, "case", tmp_path)
    chosen = [line for line in lines if line["decision_id"] == bundles["decision"]]
    for line in chosen:
        path = merkle.inclusion_proof(line["seq"] - 1, leaves)
        line["inclusion"] = {
            "tree_size": len(lines),
            "leaf_index": line["seq"] - 1,
            "audit_path": [node.hex() for node in path],
        }
    _write_lines(case / "events.jsonl", chosen)
    (case / "checkpoints.jsonl").write_text(checkpoint + "\n")
    _recompute_manifest(case)
    assert _agree(case, bundles["key"]) == (False, {"policy_quorum_not_met"})
    # The untouched decision's bundle with its approval left out: what remains still runs from
    # the proposal to the finalization, whose validators name a verdict the bundle lacks.
    case = _copy(bundles, "case", tmp_path / "hidden")
    kept = [e for e in _lines(case / "events.jsonl") if e["kind"] != "review.recorded"]
    _write_lines(case / "events.jsonl", kept)
    _recompute_manifest(case)
    assert _agree(case, bundles["key"]) == (False, {"decision_events_missing"})


def test_a_bundle_of_the_first_bundle_format_still_verifies(
    bundles: dict[str, Any], tmp_path: Path
) -> None:
    """What `aval audit export --bundle` wrote before (aval-bundle/1): first-format notes, times
    spelled +00:00 beside them, a manifest of hashes only."""
    folder = _copy(bundles, "full", tmp_path)
    _first_format(folder)
    lines = _lines(folder / "checkpoints.jsonl")
    for line in lines:
        line["issued_at"] = line["issued_at"].replace("Z", "+00:00")
    _write_lines(folder / "checkpoints.jsonl", lines)
    _recompute_manifest(folder, format="aval-bundle/1")
    assert _aval_verdict(folder, bundles["key"]) == (True, set())
    _recompute_manifest(folder, format="aval-bundle/2")  # claimed as today: the times differ
    assert _aval_verdict(folder, bundles["key"]) == (False, {"readable_field_mismatch"})


def _cosign(folder: Path, name: str, witness: Ed25519PrivateKey) -> None:
    """The latest checkpoint cosigned by a witness (cosignature/v1), its line appended to the
    note as Aval stores the witnesses' answers."""
    lines = _lines(folder / "checkpoints.jsonl")
    text = base64.b64decode(lines[-1]["signed_note"])
    public = witness.public_key().public_bytes_raw()
    line = signed_note.cosign_line(name, public, text, 1_800_000_000, witness.sign)
    lines[-1]["note"] += line.text()
    _write_lines(folder / "checkpoints.jsonl", lines)


def test_both_verifiers_apply_a_witness_policy(bundles: dict[str, Any], tmp_path: Path) -> None:
    keys = {name: Ed25519PrivateKey.generate() for name in ("prefecture.example", "cdg.example")}
    vkeys = {
        name: signed_note.VerifierKey(
            name, signed_note.COSIGNATURE_V1, key.public_key().public_bytes_raw()
        ).text()
        for name, key in keys.items()
    }
    prefecture, cdg = vkeys["prefecture.example"], vkeys["cdg.example"]
    for bundle in ("full", "case"):
        folder = _copy(bundles, bundle, tmp_path / bundle)
        assert _agree(folder, bundles["key"], "--witness", prefecture) == (
            False,
            {"witness_quorum_not_met"},
        )
        _cosign(folder, "prefecture.example", keys["prefecture.example"])
        _recompute_manifest(folder)
        assert _agree(folder, bundles["key"], "--witness", prefecture) == (True, set())
        assert _agree(folder, bundles["key"], "--witness", prefecture, "--witness", cdg) == (
            True,
            set(),
        )
        both = ("--witness", prefecture, "--witness", cdg, "--witness-quorum", "2")
        assert _agree(folder, bundles["key"], *both) == (False, {"witness_quorum_not_met"})
        # The cosignature altered: named, and the quorum is no longer met.
        lines = _lines(folder / "checkpoints.jsonl")
        note = lines[-1]["note"]
        head, _, last = note.removesuffix("\n").rpartition("\n")
        dash, name, payload = last.split(" ")
        raw = bytearray(base64.b64decode(payload))
        raw[-1] ^= 1
        lines[-1]["note"] = f"{head}\n{dash} {name} {base64.b64encode(raw).decode()}\n"
        _write_lines(folder / "checkpoints.jsonl", lines)
        _recompute_manifest(folder)
        assert _agree(folder, bundles["key"], "--witness", prefecture) == (
            False,
            {"bad_cosignature", "witness_quorum_not_met"},
        )


NESTED = "[" * 5000 + "]" * 5000  # deeper than Python's json reads without its own limit


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("event data", "events.jsonl line 1"),
        ("event line", "events.jsonl line 1"),
        ("checkpoint line", "checkpoints.jsonl line 1"),
        ("manifest", "manifest.json"),
    ],
)
def test_json_nested_too_deeply_is_refused_by_name_never_a_crash(
    bundles: dict[str, Any], tmp_path: Path, where: str, named: str
) -> None:
    """A hostile bundle's JSON, nested deeper than the verifier's parser goes, is unreadable
    like any other malformed JSON: the bundle is refused naming the file and line, no
    traceback."""
    folder = _copy(bundles, "case", tmp_path)
    events, checkpoints = folder / "events.jsonl", folder / "checkpoints.jsonl"
    if where == "event data":
        events.write_text(events.read_text().replace('"data":{', f'"data":{{"x":{NESTED},', 1))
    elif where == "event line":
        events.write_text(NESTED + "\n" + events.read_text())
    elif where == "checkpoint line":
        checkpoints.write_text(checkpoints.read_text().replace("{", f'{{"x":{NESTED},', 1))
    if where == "manifest":
        (folder / "manifest.json").write_text(NESTED)
    else:
        _recompute_manifest(folder)
    assert NESTED in "".join(p.read_text() for p in folder.iterdir())
    args = ("audit", "verify", "--offline", str(folder), "--public-key", bundles["key"])
    done = run_cli(NO_SERVER, None, "--lang", "en", *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{named}: JSON nested too deeply to be read" in done.stderr, done.stderr


def test_a_seq_that_does_not_fit_in_8_bytes_is_refused_by_name_never_a_crash(
    bundles: dict[str, Any], tmp_path: Path
) -> None:
    folder = _copy(bundles, "case", tmp_path)
    lines = _lines(folder / "events.jsonl")
    lines[0]["seq"] = 2**70
    _write_lines(folder / "events.jsonl", lines)
    _recompute_manifest(folder)
    args = ("audit", "verify", "--offline", str(folder), "--public-key", bundles["key"])
    done = run_cli(NO_SERVER, None, "--lang", "en", *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "events.jsonl line 1: seq does not fit in 8 bytes" in done.stderr, done.stderr
