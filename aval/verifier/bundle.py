"""Offline verification of an exported trail: a folder anyone can check without Aval's database.

A bundle is a folder holding `events.jsonl` (one event per line, as ExportEvents writes them),
`checkpoints.jsonl` (the signed checkpoints), `public_key.txt` (the hex Ed25519 public key that
signs the checkpoints), `manifest.json` (what is inside) and `README.md`, which states every
rule below for a recipient who writes their own verifier.

What is checked, and against what:

- each event's readable fields (`data`, `actor_id`, `kind`…) against the bytes the chain and
  the Merkle tree hash (`canonical`): a difference is a `readable_field_mismatch`;
- each checkpoint's readable fields against the note its signature covers, and the signature;
- a bundle of a whole tenant (scope `tenant`): the hash chain from the first event, and the
  Merkle root at every checkpoint;
- a filtered bundle (scope `filtered`, e.g. one decision's events): each event's inclusion
  proof (RFC 9162) against the signed checkpoint it names, and that no event of a decision it
  holds is left out where its events can show it (`decision_events_missing`);
- the events no valid checkpoint covers, counted (`unsigned_events` in strict mode);
- the review policy of each decision, re-proved from its events (`policy_replay`), in a
  filtered bundle for the decisions whose events are all there;
- every field of the manifest, recomputed from the files and compared (`manifest_mismatch`,
  `file_changed`): the manifest says nothing that is not derived from what is signed, except
  `created_at` and the filters the bundle was exported with (which are checked against the
  events where they can be).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aval.verifier import merkle, signed_note
from aval.verifier.chain import canonical_json, chain_hash, parse_json
from aval.verifier.chain_verifier import ChainVerifier, NoteParser, Problem, Report
from aval.verifier.events import DECISION_EVENT_KINDS, AuditEvent, EventDigest
from aval.verifier.notes import key_id
from aval.verifier.policy_replay import PolicyReplay
from aval.verifier.signed_note import SignatureLine
from aval.verifier.witness_policy import WitnessPolicy, check_witnesses, note_signatures

EVENTS = "events.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
PUBLIC_KEY = "public_key.txt"
MANIFEST = "manifest.json"
README = "README.md"
# The files the manifest hashes, in this order.
HASHED_FILES = (EVENTS, CHECKPOINTS, PUBLIC_KEY, README)

FORMAT = "aval-bundle/2"
FORMATS = ("aval-bundle/1", FORMAT)
SCOPE_TENANT = "tenant"  # every event of the tenant, from seq 1
SCOPE_FILTERED = "filtered"  # the events a query selected, each with its inclusion proof

# The readable fields of an event line and where its canonical bytes say the same thing.
_EVENT_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "tenant": lambda c: c.get("tenant"),
    "event_id": lambda c: c.get("event_id"),
    "occurred_at": lambda c: c.get("occurred_at"),
    "decision_id": lambda c: c.get("decision_id"),
    "kind": lambda c: c.get("kind"),
    "actor_id": lambda c: _actor(c).get("id"),
    "actor_type": lambda c: _actor(c).get("type"),
    "trace_id": lambda c: c.get("trace_id"),
    "schema_version": lambda c: c.get("schema_version"),
    "data": lambda c: c.get("data"),
}
# The fields of a line the chain or the proofs check; nothing else may appear in a line.
_CHAIN_FIELDS = ("seq", "prev_hash", "hash", "canonical", "inclusion")
# The readable fields of a checkpoint line, each the value of the same name in its note.
_CHECKPOINT_FIELDS = ("tenant", "tree_size", "root_hash", "head_hash", "issued_at", "key_id")
_CHECKPOINT_LINE = frozenset(_CHECKPOINT_FIELDS) | {"signed_note", "signature"}
# The filters a manifest may state that each event can be checked against.
_CHECKED_FILTERS = ("decision_id", "kind", "since", "until")


def _actor(canonical: dict[str, Any]) -> dict[str, Any]:
    actor = canonical.get("actor")
    return actor if isinstance(actor, dict) else {}


@dataclass(frozen=True)
class BundleCheckpoint:
    """A checkpoint as the bundle carries it (its readable fields as the line gives them)."""

    tenant: str
    tree_size: int
    root_hash: bytes
    head_hash: bytes
    signed_note: bytes
    signature: bytes
    # The signature lines of the checkpoint's whole signed note (`note` in checkpoints.jsonl):
    # the deployment's, then the witnesses' cosignatures; empty without a note.
    cosignatures: tuple[SignatureLine, ...] = ()


@dataclass(frozen=True)
class Inclusion:
    """An event's inclusion proof, as a filtered bundle's line carries it."""

    tree_size: int
    leaf_index: int
    audit_path: list[bytes]


@dataclass
class BundleEvent:
    """One line of `events.jsonl`: the event its canonical bytes say, and what its line adds."""

    event: AuditEvent
    # The tenant the line names (the readable field), which groups the events.
    tenant: str
    # The readable fields that differ from the canonical bytes.
    mismatched: list[str]
    # None when the line carries none, or its checkpoint does not cover the event.
    inclusion: Inclusion | None
    # The canonical bytes parsed (None: not a JSON object).
    body: dict[str, Any] | None


class BundleError(ValueError):
    """The folder is not a readable bundle; the message says what is missing or malformed."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same(a: Any, b: Any) -> bool:
    """Two JSON values are the same when their canonical JSON is (1 and 1.0, or 1 and true,
    differ)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return False


def _parse_canonical(canonical: bytes) -> dict[str, Any] | None:
    try:
        parsed = parse_json(canonical)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def readable_mismatches(line: dict[str, Any], canonical: dict[str, Any] | None) -> list[str]:
    """The readable fields of an event line that differ from its canonical bytes, and the
    fields a line may not hold, by name.

    Args:
        line: The line's object.
        canonical: The canonical bytes parsed; None when they are not a JSON object (every
            readable field then differs).

    Returns:
        The names, in the order of the line's fields.
    """
    if canonical is not None and line.keys() - _CHAIN_FIELDS == _EVENT_FIELDS.keys():
        # One comparison of the whole projection first: the fields are named only on a miss.
        readable = {name: line[name] for name in _EVENT_FIELDS}
        if _same(readable, {name: path(canonical) for name, path in _EVENT_FIELDS.items()}):
            return []
    found = []
    for name, value in line.items():
        if name in _CHAIN_FIELDS:
            continue
        said = _EVENT_FIELDS.get(name)
        if said is None or canonical is None or not _same(value, said(canonical)):
            found.append(name)
    found += [name for name in _EVENT_FIELDS if name not in line]
    return found


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _integer(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} is not an integer")
    return value


def _seq(value: Any) -> int:
    """A `seq`: an integer the chain hash can spell in its 8 bytes (section 4)."""
    seq = _integer(value, "seq")
    if not -(2**63) <= seq < 2**63:
        raise ValueError("seq does not fit in 8 bytes")
    return seq


def _inclusion(value: Any) -> Inclusion | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("inclusion is not an object")
    path = value.get("audit_path")
    if not isinstance(path, list):
        raise ValueError("inclusion.audit_path is not a list")
    return Inclusion(
        tree_size=_integer(value.get("tree_size"), "inclusion.tree_size"),
        leaf_index=_integer(value.get("leaf_index"), "inclusion.leaf_index"),
        audit_path=[_hex_or_empty(node) for node in path],
    )


def _hex_or_empty(value: Any) -> bytes:
    """Hex as bytes; b"" (which no proof accepts) when it is not hex."""
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return b""


def _moment(text: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return fallback


def bundle_event(text: str) -> BundleEvent:
    """One line of `events.jsonl` (the JSON Lines format of ExportEvents).

    The event is what its canonical bytes say; the line's readable fields are only compared
    with them (`mismatched`). When the bytes are not a JSON object, the event is built from the
    readable fields, and the chain check names the bytes.

    Raises:
        ValueError: The line is not a JSON object with the chain's fields well formed.
        KeyError: A chain field is missing.
    """
    line = parse_json(text)
    if not isinstance(line, dict):
        raise ValueError("the line is not a JSON object")
    canonical = base64.b64decode(_text(line["canonical"], "canonical"), validate=True)
    body = _parse_canonical(canonical)
    said = body if body is not None else _readable_body(line)
    readable_time = _moment(line.get("occurred_at"), datetime.min)
    decision = str(said.get("decision_id") or "")
    try:
        decision_uuid = uuid.UUID(decision) if decision else None
        event_id = uuid.UUID(str(said.get("event_id")))
    except ValueError:
        decision_uuid, event_id = None, uuid.UUID(int=0)
    actor = _actor(said)
    event = AuditEvent(
        tenant_id=str(said.get("tenant")),
        seq=_seq(line["seq"]),
        event_id=event_id,
        occurred_at=_moment(said.get("occurred_at"), readable_time),
        decision_id=decision_uuid,
        kind=str(said.get("kind")),
        actor_id=str(actor.get("id")),
        actor_type=str(actor.get("type")),
        trace_id=str(said.get("trace_id")),
        schema_version=_integer(said.get("schema_version"), "") if _is_int(said) else -1,
        body=said,
        canonical=canonical,
        prev_hash=bytes.fromhex(_text(line["prev_hash"], "prev_hash")),
        hash=bytes.fromhex(_text(line["hash"], "hash")),
    )
    return BundleEvent(
        event=event,
        tenant=str(line.get("tenant", "")),
        mismatched=readable_mismatches(line, body),
        inclusion=_inclusion(line.get("inclusion")),
        body=body,
    )


def _is_int(said: dict[str, Any]) -> bool:
    value = said.get("schema_version")
    return isinstance(value, int) and not isinstance(value, bool)


def _readable_body(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": line.get("schema_version"),
        "event_id": line.get("event_id"),
        "tenant": line.get("tenant"),
        "occurred_at": line.get("occurred_at"),
        "decision_id": line.get("decision_id"),
        "kind": line.get("kind"),
        "actor": {"id": line.get("actor_id"), "type": line.get("actor_type")},
        "trace_id": line.get("trace_id"),
        "data": line.get("data"),
    }


def checkpoint_from_line(text: str) -> tuple[BundleCheckpoint | None, dict[str, Any]]:
    """A checkpoint line: the checkpoint it carries (None when its note or signature is not
    base64), and the line's object. Only the note and the signature are read here: the other
    fields are compared with the note once it is known to be signed.

    Raises:
        ValueError: The line is not a JSON object.
    """
    item = parse_json(text)
    if not isinstance(item, dict):
        raise ValueError("the line is not a JSON object")
    size = item.get("tree_size")
    try:
        note = base64.b64decode(_text(item.get("signed_note"), "signed_note"), validate=True)
        signature = base64.b64decode(_text(item.get("signature"), "signature"), validate=True)
    except (ValueError, binascii.Error):
        return None, item
    checkpoint = BundleCheckpoint(
        tenant=str(item.get("tenant", "")),
        tree_size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
        root_hash=b"",
        head_hash=b"",
        signed_note=note,
        signature=signature,
    )
    return checkpoint, item


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    # Split on "\n" only: JSON strings may hold U+2028, which other line breaks split on.
    with path.open(encoding="utf-8", newline="\n") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line


def _read_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise BundleError(f"{folder} is not a bundle: {name} is missing")
    return path


@dataclass
class _Checkpoints:
    """The bundle's checkpoints whose note is well formed and signed, by tenant; the signed
    values (from the note) stand in for the line's."""

    valid: dict[str, list[BundleCheckpoint]] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    key_ids: set[str] = field(default_factory=set)
    lines: int = 0


def _read_checkpoints(
    folder: Path,
    legacy: bool,
    key: bytes,
    signature_ok: Callable[[bytes, bytes, bytes], bool],
    parse_note: NoteParser,
    problems: list[Problem],
) -> _Checkpoints:
    found = _Checkpoints()
    for number, text in _lines(_read_file(folder, CHECKPOINTS)):
        found.lines += 1
        try:
            checkpoint, item = checkpoint_from_line(text)
        except ValueError as exc:
            raise BundleError(f"{CHECKPOINTS} line {number}: {exc}") from exc
        where = f"{CHECKPOINTS} line {number}"
        if checkpoint is None:
            tenant = str(item.get("tenant", ""))
            found.count[tenant] = found.count.get(tenant, 0) + 1
            problems.append(Problem("checkpoint_malformed", tenant, 0, "", f"{where}: not base64"))
            continue
        tenant, size = checkpoint.tenant, checkpoint.tree_size
        found.count[tenant] = found.count.get(tenant, 0) + 1
        try:
            note = parse_note(checkpoint.signed_note)
            signed = BundleCheckpoint(
                tenant=note["tenant"],
                tree_size=int(note["tree_size"]),
                root_hash=bytes.fromhex(note["root_hash"]),
                head_hash=bytes.fromhex(note["head_hash"]),
                signed_note=checkpoint.signed_note,
                signature=checkpoint.signature,
            )
        except (ValueError, KeyError) as exc:
            problems.append(Problem("checkpoint_malformed", tenant, size, "", f"{where}: {exc}"))
            continue
        if not signature_ok(key, checkpoint.signed_note, checkpoint.signature):
            problems.append(
                Problem(
                    "bad_signature",
                    tenant,
                    size,
                    "",
                    f"{where}: the checkpoint's signature does not verify with the public key",
                )
            )
            continue
        if legacy and _same_instant(item.get("issued_at"), note.get("issued_at")):
            item = dict(item, issued_at=note["issued_at"])  # written +00:00 by aval-bundle/1
        for name in checkpoint_mismatches(item, note, checkpoint, key):
            problems.append(
                Problem(
                    "readable_field_mismatch",
                    tenant,
                    size,
                    "",
                    f"{where}: {name} differs from the signed note",
                )
            )
        if "key_id" in note:  # notes of the first format name their key
            found.key_ids.add(note["key_id"])
        signed = dataclasses.replace(signed, cosignatures=note_signatures(item.get("note")))
        found.valid.setdefault(signed.tenant, []).append(signed)
    return found


def checkpoint_mismatches(
    item: dict[str, Any], note: dict[str, str], checkpoint: BundleCheckpoint, key: bytes
) -> list[str]:
    """The readable fields of a checkpoint line that differ from its signed note, and the
    fields a line may not hold, by name.

    A note of the first format (`aval.v1/checkpoint`) names its key (`key_id`); a C2SP
    checkpoint names its origin instead, and its line also carries the whole signed note
    (`note`: the text, a blank line, the log's signature line and any witness's cosignature
    lines), whose text must be `signed_note` and whose lines must hold the log's signature.

    Args:
        item: The line's object.
        note: The signed note's fields (`notes.parse_note`).
        checkpoint: What the line carries (its signed note and signature).
        key: The public key its signature verified with.

    Returns:
        The names, the expected ones first.
    """
    c2sp = "origin" in note
    expected = {name: note.get(name) for name in _CHECKPOINT_FIELDS}
    if c2sp:
        expected["key_id"] = key_id(key)
        expected["origin"] = note["origin"]
    wrong = [
        name
        for name, value in expected.items()
        if name not in item or _bad_type(name, item) or str(item[name]) != value
    ]
    allowed = _CHECKPOINT_LINE | ({"origin", "note"} if c2sp else set())
    wrong += sorted(set(item) - allowed)
    if c2sp and not _carries_signature(item.get("note"), checkpoint, note["origin"], key):
        wrong.append("note")
    return wrong


def _carries_signature(text: Any, checkpoint: BundleCheckpoint, origin: str, key: bytes) -> bool:
    """Whether `text` is the signed note of the checkpoint, with the log's signature line (its
    key name is the origin up to its last `/`)."""
    if not isinstance(text, str):
        return False
    try:
        whole = signed_note.parse_note(text.encode("utf-8"))
    except signed_note.MalformedNote:
        return False
    name = origin.rpartition("/")[0]
    try:
        own = signed_note.SignatureLine(
            name, signed_note.key_hash(name, signed_note.ED25519, key), checkpoint.signature
        )
    except signed_note.MalformedNote:
        return False
    return whole.text == checkpoint.signed_note and own in whole.signatures


def _same_instant(written: Any, signed: Any) -> bool:
    moment = _moment(written, datetime.min)
    return moment.tzinfo is not None and moment == _moment(signed, datetime.min)


def _bad_type(name: str, item: dict[str, Any]) -> bool:
    value = item[name]
    if name == "tree_size":
        return not isinstance(value, int) or isinstance(value, bool)
    return not isinstance(value, str)


def verify_bundle(
    folder: Path,
    *,
    public_key: bytes | None,
    signature_ok: Callable[[bytes, bytes, bytes], bool],
    parse_note: NoteParser,
    on_progress: Callable[[int], None] | None = None,
    policy: WitnessPolicy | None = None,
    strict: bool = False,
) -> list[Report]:
    """Verifies every tenant of a bundle (see the module's docstring for what is checked).

    Args:
        folder: The bundle.
        public_key: The raw Ed25519 public key to trust; the bundle's own `public_key.txt`
            when None (which proves only that the bundle is consistent with itself: compare
            its key id with one obtained another way).
        signature_ok: `(public_key, note, signature) -> bool`.
        parse_note: Reads a signed note's fields.
        on_progress: Called with the number of events read, every 10,000 events.
        policy: The witness policy the valid checkpoints' cosignatures must meet, if any.
        strict: Events that no valid signed checkpoint covers are a problem
            (`unsigned_events`); each report counts them either way.

    Returns:
        One report per tenant found in the bundle (the manifest's problems in the first).

    Raises:
        BundleError: a file is missing or a line cannot be read.
    """
    own_key_text = _read_file(folder, PUBLIC_KEY).read_text(encoding="utf-8").split()
    try:
        own_key = bytes.fromhex(own_key_text[0]) if own_key_text else b""
    except ValueError as exc:
        raise BundleError(f"{PUBLIC_KEY}: {exc}") from exc
    key = own_key if public_key is None else public_key
    manifest = _read_manifest(folder)
    scope = bundle_scope(folder)
    problems: list[Problem] = []
    legacy = manifest is not None and manifest.get("format") == FORMATS[0]
    checkpoints = _read_checkpoints(folder, legacy, key, signature_ok, parse_note, problems)
    by_tenant: dict[str, list[BundleEvent]] = {}
    filtered = scope == SCOPE_FILTERED
    verifiers: dict[str, ChainVerifier] = {}
    replays: dict[str, PolicyReplay] = {}
    named: set[str] = set()
    events = 0
    for events, (number, text) in enumerate(_lines(_read_file(folder, EVENTS)), start=1):
        try:
            read = bundle_event(text)
        except (ValueError, KeyError, binascii.Error) as exc:
            raise BundleError(f"{EVENTS} line {number}: {exc}") from exc
        event = read.event
        named.add(read.tenant)
        for name in read.mismatched:
            problems.append(
                Problem(
                    "readable_field_mismatch",
                    read.tenant,
                    event.seq,
                    str(event.decision_id or ""),
                    f"event {event.event_id} (seq {event.seq}): {name} differs from its "
                    "canonical bytes",
                )
            )
        if filtered:
            by_tenant.setdefault(read.tenant, []).append(read)
        else:
            verifier = verifiers.get(read.tenant)
            if verifier is None:
                verifier = verifiers[read.tenant] = _chain_verifier(read.tenant, checkpoints)
            verifier.check(_digest(event))
            replays.setdefault(read.tenant, PolicyReplay()).feed_body(event.seq, read.body)
        if on_progress is not None and events % 10_000 == 0:
            on_progress(events)
    reports: dict[str, Report] = {}
    tenants = sorted(set(verifiers) | set(by_tenant) | set(checkpoints.count))
    for tenant in tenants:
        if filtered:
            reports[tenant] = _verify_filtered(
                tenant,
                by_tenant.get(tenant, []),
                checkpoints,
                strict=strict,
                whole_decisions=_whole_decisions(manifest),
            )
            if policy is not None:
                valid = checkpoints.valid.get(tenant, [])
                check_witnesses(reports[tenant], tenant, valid, policy)
        else:
            verifier = verifiers.get(tenant) or _chain_verifier(tenant, checkpoints)
            verifier.finish_checkpoints()
            if policy is not None:
                valid = checkpoints.valid.get(tenant, [])
                check_witnesses(verifier.report, tenant, valid, policy)
            replay = replays.get(tenant)
            for decision, violations in replay.violations().items() if replay else ():
                verifier.check_facts(decision, (), violations)
            if strict:  # finish_checkpoints counted them
                verifier.report.require_signed(tenant)
            # What the chain calls canonical_mismatch (columns against bytes), a bundle's
            # readable_field_mismatch names field by field.
            verifier.report.problems[:] = [
                p for p in verifier.report.problems if p.kind != "canonical_mismatch"
            ]
            reports[tenant] = verifier.report
    if manifest is None:
        problems.insert(0, Problem("manifest_missing", "", 0, "", f"{MANIFEST} is missing"))
    else:
        named |= set(checkpoints.count)
        problems[:0] = _check_manifest(
            folder, manifest, own_key, checkpoints, (named, by_tenant), events
        )
    listed = [reports[tenant] for tenant in tenants] or [Report()]
    for problem in reversed(problems):
        target = reports.get(problem.tenant_id, listed[0])
        target.problems.insert(0, problem)
    return listed


def _digest(event: AuditEvent) -> EventDigest:
    """What the chain needs of an event: its readable fields are compared elsewhere
    (`readable_mismatches`), and no decision's stored state is compared offline."""
    decision = str(event.decision_id) if event.decision_id else ""
    return EventDigest(
        event.seq,
        event.canonical,
        event.prev_hash,
        event.hash,
        decision,
        event.occurred_at,
        "",
        None,
    )


def _chain_verifier(tenant: str, checkpoints: _Checkpoints) -> ChainVerifier:
    # The signatures and notes are checked once, by `_read_checkpoints`: these are the signed
    # values of the valid ones.
    return ChainVerifier(tenant, checkpoints.valid.get(tenant, []), signature_ok=lambda n, s: True)


def holds_whole_decisions(folder: Path) -> bool:
    """Whether a bundle says it holds every event of the decisions it holds (a filtered bundle
    selected by decision alone): `verify_bundle` then names an event left out of one."""
    return bundle_scope(folder) == SCOPE_FILTERED and _whole_decisions(_read_manifest(folder))


def _whole_decisions(manifest: dict[str, Any] | None) -> bool:
    """Whether a filtered bundle says it holds every event of the decisions it holds: it was
    selected by decision and by nothing that keeps only some of a decision's events (kind,
    time)."""
    filters = manifest.get("filters") if manifest else None
    if not isinstance(filters, dict):
        return False
    return bool(filters.get("decision_id")) and not any(
        filters.get(name) for name in ("kind", "since", "until")
    )


def _verify_filtered(
    tenant: str,
    events: list[BundleEvent],
    checkpoints: _Checkpoints,
    *,
    strict: bool,
    whole_decisions: bool,
) -> Report:
    """A filtered bundle's events: each hash, each inclusion proof against its signed
    checkpoint, the policy of each decision whose events are all there, and (when the bundle
    says it holds whole decisions) that none of their events is left out."""
    report = Report(events_checked=len(events))
    report.checkpoints_checked = checkpoints.count.get(tenant, 0)
    signed = {c.tree_size: c for c in checkpoints.valid.get(tenant, [])}
    last = 0
    unsigned: list[int] = []

    def problem(kind: str, read: BundleEvent, detail: str) -> None:
        decision = str(read.event.decision_id or "")
        report.problems.append(Problem(kind, tenant, read.event.seq, decision, detail))

    for read in events:
        event = read.event
        if event.seq <= last:
            problem("sequence_order", read, f"seq {event.seq} comes after seq {last}")
        last = max(last, event.seq)
        if chain_hash(event.prev_hash, event.seq, event.canonical) != event.hash:
            problem(
                "hash_mismatch",
                read,
                "stored hash differs from SHA-256(prev_hash, seq, canonical bytes)",
            )
        proof = read.inclusion
        if proof is None:
            unsigned.append(event.seq)
            continue
        checkpoint = signed.get(proof.tree_size)
        if checkpoint is None:
            problem(
                "proof_checkpoint_missing",
                read,
                f"no valid signed checkpoint of tree size {proof.tree_size} in the bundle",
            )
            continue
        if not _proves(event, proof, checkpoint.root_hash):
            problem(
                "bad_inclusion_proof",
                read,
                f"the inclusion proof does not lead from the event to the signed root of "
                f"tree size {proof.tree_size}",
            )
    report.unsigned_events = len(unsigned)
    # As the chain check counts them: the events before the first one no proof covers.
    report.signed_events = unsigned[0] - 1 if unsigned else last
    if unsigned and strict:
        report.problems.append(
            Problem(
                "unsigned_events",
                tenant,
                unsigned[0],
                "",
                f"{len(unsigned)} event(s) carry no inclusion proof: no signed checkpoint "
                f"covers them (seq {', '.join(map(str, unsigned[:20]))})",
            )
        )
    whole, missing = _decision_lives(events)
    if whole_decisions:
        report.problems += missing
    replay = PolicyReplay()
    for read in whole:
        replay.feed(read.event)
    for decision, violations in replay.violations().items():
        for kind, seq, detail in violations:
            report.problems.append(Problem(kind, tenant, seq, decision, detail))
    decisions = {str(r.event.decision_id) for r in events if r.event.decision_id}
    report.decisions_checked = len(decisions)
    if events:
        report.head_hash = events[-1].event.hash
    return report


def _proves(event: AuditEvent, proof: Inclusion, root: bytes) -> bool:
    if proof.leaf_index != event.seq - 1:
        return False
    try:
        return merkle.verify_inclusion(
            merkle.leaf_hash(event.canonical),
            proof.leaf_index,
            proof.tree_size,
            proof.audit_path,
            root,
        )
    except merkle.MalformedHash:
        return False


MISSING = "decision_events_missing"
# The states a verdict closes a decision in (an expiry is its own terminal event).
_CLOSED_BY_VERDICT = frozenset({"APPROVED", "AMENDED", "REJECTED"})


def _decision_lives(events: list[BundleEvent]) -> tuple[list[BundleEvent], list[Problem]]:
    """The events of each decision whose life the bundle holds whole, and a problem
    `decision_events_missing` for each sign that a filtered bundle left out an event of a
    decision it holds (README section 9): its first event is not its `decision.proposed`; the
    `decision_version` of an event is neither the previous one's nor one more (every event that
    changes a decision says its new version; a finalization keeps the version of the verdict
    that closed it); a verdict that closed it is not followed by its `decision.finalized`; a
    finalization names a reviewer whose verdict is not there. What comes after the last event
    of a decision that is not final cannot be known from the bundle."""
    by_decision: dict[str, list[BundleEvent]] = {}
    for read in events:
        if read.body is not None and read.body.get("kind") in DECISION_EVENT_KINDS:
            by_decision.setdefault(str(read.event.decision_id), []).append(read)
    whole: list[BundleEvent] = []
    problems: list[Problem] = []
    for decision, reads in by_decision.items():
        found = [
            Problem(MISSING, read.tenant, read.event.seq, decision, detail)
            for read, detail in _gaps(reads)
        ]
        problems += found
        if not found and None not in map(_version, reads):
            whole += reads
    return whole, problems


def _data(read: BundleEvent) -> dict[str, Any]:
    data = read.body.get("data") if read.body is not None else None
    return data if isinstance(data, dict) else {}


def _version(read: BundleEvent) -> int | None:
    version = _data(read).get("decision_version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _gaps(reads: list[BundleEvent]) -> Iterator[tuple[BundleEvent, str]]:
    """Where one decision's events (in the bundle's order) show that some are missing."""
    first = reads[0]
    if (first.body or {}).get("kind") != "decision.proposed":
        yield first, "the bundle does not hold this decision's proposal (decision.proposed)"
    for earlier, later in itertools.pairwise(reads):
        a, b = _version(earlier), _version(later)
        if a is not None and b is not None and b not in (a, a + 1):
            yield later, f"decision_version goes from {a} to {b}: events between are missing"
    reviewers: set[str] = set()
    closing: BundleEvent | None = None
    for read in reads:
        kind = (read.body or {}).get("kind")
        if kind == "review.recorded":
            reviewers.add(read.event.actor_id)
            if _data(read).get("decision_state") in _CLOSED_BY_VERDICT:
                closing = read
        elif kind == "decision.finalized":
            closing = None
            named = [*_data(read).get("validators", []), *_data(read).get("rejected_by", [])]
            for who in sorted({str(w) for w in named} - reviewers):
                yield read, f"the finalization names {who}, whose verdict is not in the bundle"
    if closing is not None:
        yield closing, "the verdict that closed the decision is not followed by its finalization"


def bundle_scope(folder: Path) -> str:
    """What the bundle's manifest says it holds: `SCOPE_TENANT` or `SCOPE_FILTERED` (the
    manifest's word, which `verify_bundle` checks against the events)."""
    manifest = _read_manifest(folder)
    return str(manifest.get("scope", SCOPE_TENANT)) if manifest else SCOPE_TENANT


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = parse_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{MANIFEST} is not a JSON object")
    return manifest


def expected_manifest(
    folder: Path, own_key: bytes, tenant: str, events: int, checkpoints: int
) -> dict[str, Any]:
    """The manifest's derived fields, as the files give them (`created_at`, `scope` and
    `filters` aside)."""
    return {
        "tenant": tenant,
        "events": events,
        "checkpoints": checkpoints,
        "key_id": key_id(own_key),
        "sha256": {name: sha256_file(folder / name) for name in HASHED_FILES},
    }


def _check_manifest(
    folder: Path,
    manifest: dict[str, Any],
    own_key: bytes,
    checkpoints: _Checkpoints,
    read: tuple[set[str], dict[str, list[BundleEvent]]],
    events: int,
) -> list[Problem]:
    """Recomputes each field of the manifest from the files; names each that differs.

    `read` is the tenants the events and checkpoints name, and the events of a filtered
    bundle by tenant."""
    named, filtered = read
    problems = []

    def mismatch(name: str, detail: str) -> None:
        problems.append(Problem("manifest_mismatch", "", 0, "", f"{name}: {detail}"))

    if manifest.get("format") not in FORMATS:
        mismatch("format", f"not one of {', '.join(FORMATS)}")
    hashes = manifest.get("sha256")
    hashes = hashes if isinstance(hashes, dict) else {}
    for name in HASHED_FILES:
        target = folder / name
        if not target.is_file() or hashes.get(name) != sha256_file(target):
            problems.append(
                Problem("file_changed", "", 0, "", f"{name} differs from the manifest's hash")
            )
    if manifest.get("format") == "aval-bundle/1":
        return problems  # its other fields were not checked then
    tenant = manifest.get("tenant")
    if not isinstance(tenant, str) or not tenant or named - {tenant}:
        mismatch("tenant", f"the bundle's events and checkpoints name {sorted(named)}")
    expected = {
        "events": events,
        "checkpoints": checkpoints.lines,
        "key_id": key_id(own_key),
    }
    for name, value in expected.items():
        if manifest.get(name) != value:
            mismatch(name, f"the files give {value!r}")
    if checkpoints.key_ids - {key_id(own_key)}:
        mismatch("key_id", "a checkpoint's note names another key than public_key.txt")
    scope = manifest.get("scope")
    if scope not in (SCOPE_TENANT, SCOPE_FILTERED):
        mismatch("scope", f"neither {SCOPE_TENANT} nor {SCOPE_FILTERED}")
    filters = manifest.get("filters")
    filters = filters if isinstance(filters, dict) else {}
    if scope == SCOPE_TENANT and any(filters.values()):
        mismatch("filters", "a bundle of a whole tenant has no filter")
    for reads in filtered.values():
        for name in _CHECKED_FILTERS:
            wanted = filters.get(name)
            if wanted and any(not _matches(name, wanted, r.event) for r in reads):
                mismatch(f"filters.{name}", "an event of the bundle does not match it")
    return problems


def _matches(name: str, wanted: Any, event: AuditEvent) -> bool:
    if name == "decision_id":
        return str(event.decision_id or "") == str(wanted)
    if name == "kind":
        return bool(event.kind == wanted)
    moment = _moment(wanted, datetime.min)
    if moment.tzinfo is None:
        return False
    if name == "since":
        return event.occurred_at >= moment
    return event.occurred_at < moment
