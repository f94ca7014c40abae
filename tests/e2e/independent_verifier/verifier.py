"""An independent verifier of Aval bundles, written from the bundle's README.md alone.

It imports nothing from Aval: only Python's standard library and `cryptography` (Ed25519).
Run it as a script:

    python verifier.py BUNDLE_DIR [--public-key HEX]

It prints one JSON object: {"ok": bool, "problems": [{"kind": ..., "detail": ...}, ...],
"modules": [...]} where "modules" lists every loaded module whose name starts with "aval"
(there must be none).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# README section 3: readable member -> path in the canonical object.
READABLE = {
    "tenant": ("tenant",),
    "event_id": ("event_id",),
    "occurred_at": ("occurred_at",),
    "decision_id": ("decision_id",),
    "kind": ("kind",),
    "actor_id": ("actor", "id"),
    "actor_type": ("actor", "type"),
    "trace_id": ("trace_id",),
    "schema_version": ("schema_version",),
    "data": ("data",),
}
CHAIN_MEMBERS = ("canonical", "seq", "prev_hash", "hash", "inclusion")
CHECKPOINT_READABLE = ("tenant", "tree_size", "root_hash", "head_hash", "issued_at", "key_id")
CHECKPOINT_MEMBERS = set(CHECKPOINT_READABLE) | {"signed_note", "signature"}
DECISION_KINDS = (
    "decision.proposed",
    "decision.claimed",
    "decision.released",
    "review.recorded",
    "decision.finalized",
    "decision.expired",
)
FINAL = ("APPROVED", "AMENDED", "REJECTED", "EXPIRED")
ZERO = bytes(32)


class Found:
    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []

    def add(self, kind: str, detail: str) -> None:
        self.problems.append({"kind": kind, "detail": detail})


# --- section 2 -------------------------------------------------------------------------------
def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


# --- sections 4 and 5 ------------------------------------------------------------------------
def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chain_hash(prev: bytes, seq: int, body: bytes) -> bytes:
    return sha256(prev + seq.to_bytes(8, "big", signed=True) + body)


def leaf_hash(body: bytes) -> bytes:
    return sha256(b"\x00" + body)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def merkle_root(leaves: list[bytes]) -> bytes:
    """The root of a tree given its leaf hashes (section 5)."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


# --- section 6 -------------------------------------------------------------------------------
def inclusion_ok(body: bytes, i: int, n: int, path: list[bytes], root: bytes) -> bool:
    if not 0 <= i < n or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = i, n - 1, leaf_hash(body)
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn != 0 and fn % 2 == 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- section 7 -------------------------------------------------------------------------------
NOTE_LINES = [
    ("tenant", r"[^\s](?:.*[^\s])?"),
    ("tree_size", r"0|[1-9][0-9]*"),
    ("root_hash", r"[0-9a-f]{64}"),
    ("head_hash", r"[0-9a-f]{64}"),
    ("issued_at", r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"),
    ("key_id", r"[0-9a-f]{16}"),
]


def parse_first_format(text: str) -> dict[str, str] | None:
    """README 7 (b): seven lines, the header then `name: value`."""
    if not text.endswith("\n"):
        return None
    lines = text[:-1].split("\n")
    if len(lines) != 7 or lines[0] != "aval.v1/checkpoint":
        return None
    values = {}
    for (name, pattern), line in zip(NOTE_LINES, lines[1:], strict=True):
        prefix = name + ": "
        if not line.startswith(prefix) or not re.fullmatch(pattern, line[len(prefix) :]):
            return None
        values[name] = line[len(prefix) :]
    return values


def strict_b64(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def has_control(text: str) -> bool:
    return any(ord(char) < 0x20 and char != "\n" for char in text)


def parse_c2sp(text: str) -> dict[str, str] | None:
    """README 7 (a): origin, size, base64 root, then Aval's two extension lines."""
    if has_control(text) or not text.endswith("\n"):
        return None
    lines = text[:-1].split("\n")
    if len(lines) != 5 or any(not line for line in lines):
        return None
    origin, size, root, head, issued = lines
    if not re.fullmatch(r"0|[1-9][0-9]*", size) or int(size) >= 2**63:
        return None
    raw_root = strict_b64(root)
    if raw_root is None or len(raw_root) != 32:
        return None
    head_match = re.fullmatch(r"aval/head-hash ([0-9a-f]{64})", head)
    time_match = re.fullmatch(r"aval/issued-at (" + NOTE_LINES[4][1] + ")", issued)
    if head_match is None or time_match is None:
        return None
    return {
        "tenant": origin.rpartition("/")[2],
        "tree_size": size,
        "root_hash": raw_root.hex(),
        "head_hash": head_match.group(1),
        "issued_at": time_match.group(1),
        "origin": origin,
    }


def parse_note(note: bytes) -> dict[str, str] | None:
    """The signed note's values (README 7), in either format; None when in neither."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("aval.v1/checkpoint\n"):
        return parse_first_format(text)
    return parse_c2sp(text)


def signature_lines(note: Any) -> list[tuple[str, bytes]]:
    """The (key name, decoded bytes) of each signature line of a whole signed note."""
    if not isinstance(note, str):
        return []
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        return []
    found = []
    for line in note[split + 2 : -1].split("\n"):
        parts = line.split(" ")
        payload = strict_b64(parts[2]) if len(parts) == 3 and parts[0] == "\u2014" else None
        if payload is not None:
            found.append((parts[1], payload))
    return found


def witness_key(text: str) -> tuple[str, bytes, bytes]:
    """README 12: a witness's verifier key string -> (name, key hash, raw key)."""
    name, key_hash, material = text.split("+", 2)
    raw = strict_b64(material)
    if raw is None or len(raw) != 33 or raw[0] != 0x04:
        raise ValueError(f"not a witness key: {text}")
    digest = hashlib.sha256(name.encode() + b"\n" + raw[:1] + raw[1:]).digest()[:4]
    if digest.hex() != key_hash:
        raise ValueError(f"the key hash of {name} does not match")
    return name, digest, raw[1:]


def check_witnesses(
    valid: list[dict[str, Any]], witnesses: list[str], quorum: int, found: Found
) -> None:
    """README 12."""
    keys = [witness_key(text) for text in witnesses]
    witnessed = set()
    for checkpoint in valid:
        signers = set()
        for name, payload in checkpoint["lines"]:
            for key_name, key_hash, key in keys:
                if name != key_name or payload[:4] != key_hash:
                    continue
                body = payload[4:]
                stamp = int.from_bytes(body[:8], "big") if len(body) == 72 else 2**63
                message = b"cosignature/v1\ntime %d\n" % stamp + checkpoint["text"]
                if stamp < 2**63 and signature_ok(key, message, body[8:]):
                    signers.add(key_name)
                else:
                    found.add("bad_cosignature", key_name)
        if len(signers) >= quorum:
            witnessed.add(checkpoint["tree_size"])
    latest = max((c["tree_size"] for c in valid), default=None)
    if latest is None or latest not in witnessed:
        found.add("witness_quorum_not_met", f"tree size {latest}")


def log_line_present(note: Any, text: bytes, origin: str, key: bytes, signature: bytes) -> bool:
    """README 7 (a): the whole note holds the text and the log's signature line."""
    if not isinstance(note, str):
        return False
    raw = note.encode("utf-8")
    split = raw.rfind(b"\n\n")
    if split < 0 or raw[: split + 1] != text:
        return False
    block = raw[split + 2 :].decode("utf-8")
    if not block.endswith("\n"):
        return False
    name = origin.rpartition("/")[0]
    key_hash = hashlib.sha256(name.encode() + b"\n" + b"\x01" + key).digest()[:4]
    for line in block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            continue
        payload = strict_b64(parts[2])
        if parts[1] == name and payload == key_hash + signature:
            return True
    return False


def signature_ok(key: bytes, note: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, note)
    except (InvalidSignature, ValueError):
        return False
    return True


def b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_bytes().decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def read_checkpoints(folder: Path, key: bytes, found: Found) -> tuple[list[dict[str, Any]], Any]:
    """The valid checkpoints (the note's values), and all the lines."""
    lines = jsonl(folder / "checkpoints.jsonl")
    valid = []
    for number, line in enumerate(lines, start=1):
        note, signature = b64(line.get("signed_note")), b64(line.get("signature"))
        values = parse_note(note) if note is not None else None
        if values is None or signature is None:
            found.add("checkpoint_malformed", f"checkpoint line {number}")
            continue
        if not signature_ok(key, note, signature):  # type: ignore[arg-type]
            found.add("bad_signature", f"checkpoint line {number}")
            continue
        c2sp = "origin" in values
        expected = {name: values.get(name) for name in CHECKPOINT_READABLE}
        allowed = set(CHECKPOINT_MEMBERS)
        if c2sp:
            expected["key_id"] = fingerprint(key)
            expected["origin"] = values["origin"]
            allowed |= {"origin", "note"}
        for name, want in expected.items():
            value = line.get(name)
            if name == "tree_size":
                good = isinstance(value, int) and not isinstance(value, bool)
            else:
                good = isinstance(value, str)
            if not good or str(value) != want:
                found.add("readable_field_mismatch", f"checkpoint line {number}: {name}")
        for name in sorted(set(line) - allowed):
            found.add("readable_field_mismatch", f"checkpoint line {number}: {name}")
        if c2sp and not log_line_present(
            line.get("note"),
            note,
            values["origin"],
            key,
            signature,  # type: ignore[arg-type]
        ):
            found.add("readable_field_mismatch", f"checkpoint line {number}: note")
        valid.append(
            {
                "tenant": values["tenant"],
                "tree_size": int(values["tree_size"]),
                "root_hash": bytes.fromhex(values["root_hash"]),
                "head_hash": bytes.fromhex(values["head_hash"]),
                "key_id": values.get("key_id"),
                "text": note,
                "lines": signature_lines(line.get("note")),
            }
        )
    return valid, lines


def path_of(body: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        if not isinstance(body, dict):
            return None
        body = body.get(step)
    return body


def parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_readable(line: dict[str, Any], body: dict[str, Any] | None, found: Found) -> None:
    where = f"event seq {line.get('seq')}"
    for name, value in line.items():
        if name in CHAIN_MEMBERS:
            continue
        if name not in READABLE or body is None or not same(value, path_of(body, READABLE[name])):
            found.add("readable_field_mismatch", f"{where}: {name}")
    for name in READABLE:
        if name not in line:
            found.add("readable_field_mismatch", f"{where}: {name} missing")


# --- section 10 ------------------------------------------------------------------------------
def moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def policy(decision_events: list[dict[str, Any]], found: Found) -> None:
    """The review policy of one decision, from its canonical bodies in order."""
    proposals, proposer, required, to_close, deadline = 0, None, None, None, None
    suggested, state, amendments, amendment = None, None, 0, None
    outcome_event, outcome, outcome_seen = False, None, False
    approvers: set[str] = set()
    rejecters: set[str] = set()
    verdicts: list[tuple[str, datetime]] = []
    role_bad = False
    for body in decision_events:
        data, actor, kind = body.get("data"), body.get("actor"), body.get("kind")
        if not isinstance(data, dict) or not isinstance(actor, dict):
            continue
        if "decision_state" in data:
            state = str(data["decision_state"])
        if kind == "decision.proposed":
            proposals += 1
            proposer = str(actor.get("id"))
            required = data.get("required_approvals")
            to_close = data.get("rejections_to_close")
            deadline = moment(data.get("deadline"))
            suggestion = data.get("suggestion")
            suggested = suggestion.get("output") if isinstance(suggestion, dict) else None
        elif kind == "review.recorded":
            who, verdict = str(actor.get("id")), data.get("verdict")
            counted = actor.get("type") != "system"
            if verdict in ("APPROVE", "AMEND") and counted:
                approvers.add(who)
            elif verdict == "REJECT" and counted:
                rejecters.add(who)
            if verdict == "AMEND":
                amendments += 1
                amendment = data.get("amended_output")
            when = moment(body.get("occurred_at"))
            if when is not None:
                verdicts.append((who, when))
            eligible, roles = data.get("eligible_roles"), data.get("reviewer_roles")
            held = set(map(str, roles)) if isinstance(roles, list) else set()
            if isinstance(eligible, list) and not held & set(map(str, eligible)):
                role_bad = True
        elif kind == "decision.finalized":
            outcome_seen = True
            outcome_event = "outcome" in data
            outcome = data.get("outcome")

    def number(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    if any(who == proposer for who, _ in verdicts):
        found.add("approver_is_proposer", "")
    if deadline is not None and any(when >= deadline for _, when in verdicts):
        found.add("verdict_after_deadline", "")
    if role_bad:
        found.add("verdict_role_not_eligible", "")
    effective = state in ("APPROVED", "AMENDED")
    if state in FINAL and (
        proposals != 1
        or (effective and len(approvers) < max(number(required), 1))
        or (state == "REJECTED" and len(rejecters) < max(number(to_close), 1))
    ):
        found.add("policy_quorum_not_met", "")
    has_outcome = outcome_event and outcome is not None
    if state == "EXPIRED" and has_outcome:
        found.add("expired_with_outcome", "")
    derived = amendment if amendments else suggested
    wrong_kind = (state == "AMENDED") != (amendments > 0)
    if (effective and (not outcome_seen or outcome != derived or wrong_kind)) or (
        state == "REJECTED" and has_outcome
    ):
        found.add("outcome_not_derived", "")


def decisions_of(bodies: list[dict[str, Any] | None]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        if body is not None and body.get("kind") in DECISION_KINDS:
            grouped.setdefault(str(body.get("decision_id")), []).append(body)
    return grouped


def version_of(body: dict[str, Any]) -> int | None:
    data = body.get("data")
    version = data.get("decision_version") if isinstance(data, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def missing_signs(events: list[dict[str, Any]]) -> int:
    """How many signs section 9 lists that some of one decision's events were left out."""
    signs = int(events[0].get("kind") != "decision.proposed")
    for earlier, later in itertools.pairwise(events):
        a, b = version_of(earlier), version_of(later)
        if a is not None and b is not None and b != a and b != a + 1:
            signs += 1
    reviewers, open_close = set(), False
    for body in events:
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        actor = body.get("actor") if isinstance(body.get("actor"), dict) else {}
        if body.get("kind") == "review.recorded":
            reviewers.add(actor.get("id"))
            if data.get("decision_state") in ("APPROVED", "AMENDED", "REJECTED"):
                open_close = True
        elif body.get("kind") == "decision.finalized":
            open_close = False
            named = set(data.get("validators", [])) | set(data.get("rejected_by", []))
            signs += len(named - reviewers)
    return signs + int(open_close)


def whole_life(events: list[dict[str, Any]]) -> bool:
    if any(version_of(body) is None for body in events):
        return False
    return missing_signs(events) == 0


# --- sections 8, 9 and 11 --------------------------------------------------------------------
def verify(
    folder: Path, trusted: bytes | None, witnesses: list[str] | None = None, quorum: int = 1
) -> Found:
    found = Found()
    own = bytes.fromhex((folder / "public_key.txt").read_text(encoding="utf-8").split()[0])
    key = trusted if trusted is not None else own
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.is_file() else None
    scope = manifest.get("scope") if manifest else "tenant"
    valid, checkpoint_lines = read_checkpoints(folder, key, found)
    lines = jsonl(folder / "events.jsonl")
    bodies = []
    for line in lines:
        raw = b64(line.get("canonical")) or b""
        body = parse_body(raw)
        bodies.append(body)
        check_readable(line, body, found)
        line["_raw"] = raw
    tenants = {str(line.get("tenant")) for line in lines} | {
        str(line.get("tenant")) for line in checkpoint_lines
    }
    by_size = {c["tree_size"]: c for c in valid}
    if scope == "filtered":
        last, unsigned = 0, 0
        for line in lines:
            seq, raw = line["seq"], line["_raw"]
            if seq <= last:
                found.add("sequence_order", f"seq {seq}")
            last = max(last, seq)
            if chain_hash(bytes.fromhex(line["prev_hash"]), seq, raw) != bytes.fromhex(
                line["hash"]
            ):
                found.add("hash_mismatch", f"seq {seq}")
            proof = line.get("inclusion")
            if proof is None:
                unsigned += 1
                continue
            checkpoint = by_size.get(proof["tree_size"])
            if checkpoint is None:
                found.add("proof_checkpoint_missing", f"seq {seq}")
                continue
            path = []
            for node in proof["audit_path"]:
                try:
                    path.append(bytes.fromhex(node))
                except (ValueError, TypeError):
                    path.append(b"")
            if proof["leaf_index"] != seq - 1 or not inclusion_ok(
                raw, proof["leaf_index"], proof["tree_size"], path, checkpoint["root_hash"]
            ):
                found.add("bad_inclusion_proof", f"seq {seq}")
        if unsigned:
            found.add("unsigned_events", f"{unsigned} event(s)")
        filters = manifest.get("filters") if manifest else None
        filters = filters if isinstance(filters, dict) else {}
        says_whole = bool(filters.get("decision_id")) and not any(
            filters.get(name) for name in ("kind", "since", "until")
        )
        for events in decisions_of(bodies).values():
            if says_whole and missing_signs(events):
                found.add("decision_events_missing", str(events[0].get("decision_id")))
            if whole_life(events):
                policy(events, found)
    else:
        expected, prev, leaves = 1, ZERO, []
        checks = sorted(valid, key=lambda c: c["tree_size"])
        for c in checks:
            if c["tree_size"] == 0 and (c["root_hash"] != sha256(b"") or c["head_hash"] != ZERO):
                found.add("rewritten_history", "size 0")
        for line in lines:
            seq, raw = line["seq"], line["_raw"]
            own_hash = bytes.fromhex(line["hash"])
            if seq != expected:
                found.add("sequence_gap", f"seq {seq}")
            if bytes.fromhex(line["prev_hash"]) != prev:
                found.add("broken_link", f"seq {seq}")
            if chain_hash(bytes.fromhex(line["prev_hash"]), seq, raw) != own_hash:
                found.add("hash_mismatch", f"seq {seq}")
            leaves.append(leaf_hash(raw))
            for c in checks:
                if c["tree_size"] == len(leaves) and (
                    merkle_root(leaves) != c["root_hash"] or own_hash != c["head_hash"]
                ):
                    found.add("rewritten_history", f"size {c['tree_size']}")
            expected, prev = seq + 1, own_hash
        covered = max((c["tree_size"] for c in valid), default=0)
        for c in checks:
            if c["tree_size"] > len(lines):
                found.add("truncated", f"size {c['tree_size']}")
        if len(lines) > covered:
            found.add("unsigned_events", f"{len(lines) - covered} event(s)")
        for events in decisions_of(bodies).values():
            policy(events, found)
    check_manifest(folder, manifest, own, valid, tenants, lines, found)
    if witnesses:
        check_witnesses(valid, witnesses, quorum, found)
    return found


def check_manifest(
    folder: Path,
    manifest: dict[str, Any] | None,
    own: bytes,
    valid: list[dict[str, Any]],
    tenants: set[str],
    lines: list[dict[str, Any]],
    found: Found,
) -> None:
    if manifest is None:
        found.add("manifest_missing", "")
        return
    sums = manifest.get("sha256") if isinstance(manifest.get("sha256"), dict) else {}
    for name in ("events.jsonl", "checkpoints.jsonl", "public_key.txt", "README.md"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if sums.get(name) != digest:
            found.add("file_changed", name)

    def wrong(name: str) -> None:
        found.add("manifest_mismatch", name)

    if manifest.get("format") != "aval-bundle/2":
        wrong("format")
    tenant = manifest.get("tenant")
    if not isinstance(tenant, str) or not tenant or tenants - {tenant}:
        wrong("tenant")
    if manifest.get("events") != len(lines):
        wrong("events")
    checkpoint_count = len(jsonl(folder / "checkpoints.jsonl"))
    if manifest.get("checkpoints") != checkpoint_count:
        wrong("checkpoints")
    if manifest.get("key_id") != fingerprint(own) or any(
        c["key_id"] not in (None, fingerprint(own)) for c in valid
    ):
        wrong("key_id")
    scope = manifest.get("scope")
    if scope not in ("tenant", "filtered"):
        wrong("scope")
    filters = manifest.get("filters") if isinstance(manifest.get("filters"), dict) else {}
    if scope == "tenant" and any(filters.values()):
        wrong("filters")
    if scope == "filtered":
        for name in ("decision_id", "kind", "since", "until"):
            want = filters.get(name)
            if want and not all(matches(name, want, line["_raw"]) for line in lines):
                wrong(f"filters.{name}")


def matches(name: str, want: Any, raw: bytes) -> bool:
    body = parse_body(raw) or {}
    if name in ("decision_id", "kind"):
        return str(body.get(name)) == str(want) if name == "decision_id" else body.get(name) == want
    bound, when = moment(want), moment(body.get("occurred_at"))
    if bound is None or bound.tzinfo is None or when is None:
        return False
    return when >= bound if name == "since" else when < bound


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key")
    parser.add_argument("--witness", action="append", default=[])
    parser.add_argument("--witness-quorum", type=int, default=1)
    args = parser.parse_args()
    trusted = bytes.fromhex(args.public_key) if args.public_key else None
    found = verify(args.bundle, trusted, args.witness, args.witness_quorum)
    loaded = sorted(m for m in sys.modules if m == "aval" or m.startswith("aval."))
    print(json.dumps({"ok": not found.problems, "problems": found.problems, "modules": loaded}))


if __name__ == "__main__":
    main()
