"""Signed checkpoint notes and Ed25519 public keys: writing and reading a note, checking it.

Checkpoints are C2SP tlog checkpoints (`signed_note`); notes of the first format, whose first
line is `aval.v1/checkpoint`, stay readable so that history signed before stays verifiable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aval.verifier import signed_note

# The first line of every signed note: what it is, and the version of its format.
NOTE_HEADER = "aval.v1/checkpoint"
# The lines after the header, in this order, each `name: value`.
NOTE_FIELDS = ("tenant", "tree_size", "root_hash", "head_hash", "issued_at", "key_id")
PUBLIC_KEY_BYTES = 32
# What each value of a note looks like; nothing else is read back.
_NOTE_VALUES = {
    "tenant": re.compile(r"[^\s](?:.*[^\s])?"),
    "tree_size": re.compile(r"0|[1-9][0-9]*"),
    "root_hash": re.compile(r"[0-9a-f]{64}"),
    "head_hash": re.compile(r"[0-9a-f]{64}"),
    "issued_at": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"),
    "key_id": re.compile(r"[0-9a-f]{16}"),
}


class SigningKeyError(Exception):
    """A signing key that cannot be used; the message names the source and the fix."""


class NoteFormatError(ValueError):
    """Bytes that are not a signed checkpoint note of the expected format."""


def key_id(public_key_raw: bytes) -> str:
    """Identifies a public key.

    Args:
        public_key_raw: The raw 32-byte Ed25519 public key.

    Returns:
        The first 16 hex digits of the SHA-256 of the raw key.
    """
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of a public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_text(public_key_raw: bytes) -> str:
    """The text of a public key file: the raw key in hex on the first line, then its PEM.

    Args:
        public_key_raw: The raw 32-byte Ed25519 public key.

    Returns:
        The text, ending with a newline.
    """
    pem = (
        Ed25519PublicKey.from_public_bytes(public_key_raw)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return f"{public_key_raw.hex()}\n{pem}"


def read_public_key(text: str) -> bytes:
    """Reads a public key: hex (64 digits), PEM, a public key file holding both, or a verifier
    key string (`<name>+<key ID>+<base64>`, signed-note) of type 0x01.

    Args:
        text: The text.

    Returns:
        The raw 32-byte public key.

    Raises:
        SigningKeyError: No Ed25519 public key in the text.
    """
    stripped = text.strip()
    first = stripped.splitlines()[0].strip() if stripped else ""
    if first.count("+") >= 2:
        try:
            verifier = signed_note.parse_verifier_key(first)
        except signed_note.MalformedNote as exc:
            raise SigningKeyError(f"the verifier key string cannot be read: {exc}") from exc
        if verifier.key_type != signed_note.ED25519:
            raise SigningKeyError("the verifier key string is a witness's, not a log's (0x01)")
        return verifier.public_key
    if len(first) == 2 * PUBLIC_KEY_BYTES:
        try:
            return bytes.fromhex(first)
        except ValueError:
            pass
    start = stripped.find("-----BEGIN PUBLIC KEY-----")
    if start >= 0:
        try:
            key = serialization.load_pem_public_key(stripped[start:].encode())
        except ValueError as exc:
            raise SigningKeyError("the PEM public key cannot be read") from exc
        if isinstance(key, Ed25519PublicKey):
            return raw_public_key(key)
    raise SigningKeyError("no Ed25519 public key (64 hex digits or PEM) in the text")


def format_note(fields: Mapping[str, str | int]) -> bytes:
    """Writes the signed note of a checkpoint.

    Args:
        fields: A value for each of `NOTE_FIELDS` (others are ignored).

    Returns:
        UTF-8 text: the header line, then one `name: value` line per field in the order of
        `NOTE_FIELDS`, each ending with a newline.

    Raises:
        NoteFormatError: A field is missing or a value holds a line break.
    """
    lines = [NOTE_HEADER]
    for name in NOTE_FIELDS:
        if name not in fields:
            raise NoteFormatError(f"missing field {name}")
        value = str(fields[name])
        if "\n" in value or "\r" in value:
            raise NoteFormatError(f"field {name} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_note(note: bytes) -> dict[str, str]:
    """Reads the signed bytes of a checkpoint, of either format, into its fields.

    Args:
        note: The bytes that were signed: a C2SP checkpoint's note text, or a note of the first
            format (`aval.v1/checkpoint`, the exact inverse of `format_note`).

    Returns:
        tenant, tree_size, root_hash and head_hash (hex), issued_at, and key_id (first format)
        or origin (C2SP checkpoints), as text.

    Raises:
        NoteFormatError: The bytes are neither.
    """
    if not note.startswith(NOTE_HEADER.encode() + b"\n"):
        return _parse_checkpoint(note)
    return _parse_first_format(note)


def _parse_checkpoint(note: bytes) -> dict[str, str]:
    try:
        checkpoint = signed_note.parse_checkpoint(note)
        head_hash, issued_at = signed_note.read_aval_extensions(checkpoint)
    except signed_note.MalformedNote as exc:
        raise NoteFormatError(str(exc)) from exc
    return {
        "tenant": signed_note.tenant_of(checkpoint.origin),
        "tree_size": str(checkpoint.tree_size),
        "root_hash": checkpoint.root_hash.hex(),
        "head_hash": head_hash.hex(),
        "issued_at": issued_at,
        "origin": checkpoint.origin,
    }


def _parse_first_format(note: bytes) -> dict[str, str]:
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFormatError("the note is not UTF-8") from exc
    if not text.endswith("\n"):
        raise NoteFormatError("the note does not end with a newline")
    lines = text[:-1].split("\n")
    if lines[0] != NOTE_HEADER:
        raise NoteFormatError(f"the first line is not {NOTE_HEADER!r}")
    if len(lines) != 1 + len(NOTE_FIELDS):
        raise NoteFormatError(f"expected {len(NOTE_FIELDS)} fields, found {len(lines) - 1}")
    fields: dict[str, str] = {}
    for expected, line in zip(NOTE_FIELDS, lines[1:], strict=True):
        name, separator, value = line.partition(": ")
        if not separator or name != expected:
            raise NoteFormatError(f"expected the field {expected!r}, found {line!r}")
        fields[name] = value
    for name, pattern in _NOTE_VALUES.items():
        if not pattern.fullmatch(fields[name]):
            raise NoteFormatError(f"the value of {name} is malformed: {fields[name]!r}")
    if format_note(fields) != note:
        raise NoteFormatError("the note is not in its canonical form")
    return fields


def verify_signature(public_key_raw: bytes, note: bytes, signature: bytes) -> bool:
    """Checks an Ed25519 signature.

    Args:
        public_key_raw: The raw 32-byte public key.
        note: The bytes that were signed.
        signature: The signature.

    Returns:
        True when the signature is valid for the note under the key; False otherwise,
        including for a key or signature of the wrong length.
    """
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, note)
    except (InvalidSignature, ValueError):
        return False
    return True
