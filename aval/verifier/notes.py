"""Signed checkpoint notes and Ed25519 public keys: writing and reading a note, checking it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
    """Reads a public key written as hex (64 digits), as PEM, or as a public key file holding both.

    Args:
        text: The text.

    Returns:
        The raw 32-byte public key.

    Raises:
        SigningKeyError: No Ed25519 public key in the text.
    """
    stripped = text.strip()
    first = stripped.splitlines()[0].strip() if stripped else ""
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
    """Reads a signed note back into its fields; the exact inverse of `format_note`.

    Args:
        note: The bytes that were signed.

    Returns:
        Each of `NOTE_FIELDS` and its value, as text.

    Raises:
        NoteFormatError: The bytes are not a note in exactly the format `format_note` writes.
    """
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
