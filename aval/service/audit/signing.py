"""Ed25519 keys and signed checkpoint notes; no database or gRPC (the offline verifier uses it)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The first line of every signed note: what it is, and the version of its format.
NOTE_HEADER = "aval.v1/checkpoint"
# The lines after the header, in this order, each `name: value`.
NOTE_FIELDS = ("tenant", "tree_size", "root_hash", "head_hash", "issued_at", "key_id")
PRIVATE_KEY_NAME = "aval-signing.key"
PUBLIC_KEY_NAME = "aval-signing.pub"
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


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Signer:
    """The private key that signs checkpoints; its text is never shown, logged or stored.

    Attributes:
        public_key_raw: The raw 32-byte public key.
        key_id: `key_id(public_key_raw)`.
    """

    _private_key: Ed25519PrivateKey = field(repr=False)
    public_key_raw: bytes
    key_id: str

    @classmethod
    def of(cls, private_key: Ed25519PrivateKey) -> Signer:
        """Wraps a private key.

        Args:
            private_key: The Ed25519 private key.

        Returns:
            The signer, with its public key and key id worked out.
        """
        raw = _raw_public(private_key.public_key())
        return cls(private_key, raw, key_id(raw))

    @property
    def public_key_hex(self) -> str:
        """The raw public key in hex, as ListCheckpoints and the witness publish it."""
        return self.public_key_raw.hex()

    def sign(self, message: bytes) -> bytes:
        """Signs bytes.

        Args:
            message: What to sign (a signed note).

        Returns:
            The 64-byte Ed25519 signature.
        """
        return self._private_key.sign(message)


def private_key_from_pem(pem: bytes, source: str) -> Ed25519PrivateKey:
    """Reads an Ed25519 private key from PEM (PKCS8, unencrypted).

    Args:
        pem: The PEM text.
        source: Where it came from, named in the error (never the key itself).

    Returns:
        The key.

    Raises:
        SigningKeyError: The text is not an unencrypted Ed25519 private key in PEM.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"{source} is not an unencrypted PEM (PKCS8) private key; "
            "create one with `aval keys generate`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{source} holds a {type(key).__name__}, not an Ed25519 key; "
            "create one with `aval keys generate`"
        )
    return key


def load_signer(key_file: Path | None, key_pem: str | None) -> Signer | None:
    """Loads the signing key from a file or from PEM text, the file first.

    Args:
        key_file: A PEM (PKCS8) file (AVAL_SIGNING_KEY_FILE), or None.
        key_pem: The PEM text itself (AVAL_SIGNING_KEY), or None.

    Returns:
        The signer, or None when no key is configured.

    Raises:
        SigningKeyError: The key is configured but cannot be read or is not an Ed25519 key.
    """
    if key_file is not None:
        try:
            pem = key_file.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"AVAL_SIGNING_KEY_FILE: cannot read {key_file} ({exc.strerror}); "
                "create a key with `aval keys generate`"
            ) from exc
        return Signer.of(private_key_from_pem(pem, f"AVAL_SIGNING_KEY_FILE ({key_file})"))
    if key_pem:
        return Signer.of(private_key_from_pem(key_pem.encode(), "AVAL_SIGNING_KEY"))
    return None


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
            return _raw_public(key)
    raise SigningKeyError("no Ed25519 public key (64 hex digits or PEM) in the text")


@dataclass(frozen=True)
class GeneratedKey:
    """The files `generate_key_pair` wrote and the key's id."""

    private_key_file: Path
    public_key_file: Path
    key_id: str


def generate_key_pair(folder: Path) -> GeneratedKey:
    """Creates a new Ed25519 key pair in a folder; never overwrites an existing key.

    Args:
        folder: Where to write them; created if missing.

    Returns:
        The two files and the key id (see `write_key_pair`).

    Raises:
        FileExistsError: The folder already holds a private key.
        OSError: The files cannot be written.
    """
    return write_key_pair(folder, Ed25519PrivateKey.generate())


def write_key_pair(folder: Path, key: Ed25519PrivateKey) -> GeneratedKey:
    """Writes a key pair to a folder; never overwrites an existing private key.

    The private key goes to `aval-signing.key` (PEM, PKCS8, mode 0600), the public key to
    `aval-signing.pub` (hex on the first line, then PEM).

    Args:
        folder: Where to write them; created if missing.
        key: The private key.

    Returns:
        The two files and the key id.

    Raises:
        FileExistsError: The folder already holds a private key.
        OSError: The files cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    private_file = folder / PRIVATE_KEY_NAME
    public_file = folder / PUBLIC_KEY_NAME
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: an existing key is never replaced (checkpoints signed with it would be orphaned).
    descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    raw = _raw_public(key.public_key())
    public_file.write_text(public_key_text(raw), encoding="utf-8")
    return GeneratedKey(private_file.resolve(), public_file.resolve(), key_id(raw))


def ensure_key_pair(folder: Path) -> Path:
    """The private key file of a folder, created the first time (for `aval serve --demo`).

    Args:
        folder: Where the key lives.

    Returns:
        The private key file.
    """
    private_file = folder / PRIVATE_KEY_NAME
    if private_file.exists():
        return private_file
    try:
        return generate_key_pair(folder).private_key_file
    except FileExistsError:  # another process created it meanwhile
        return private_file


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
