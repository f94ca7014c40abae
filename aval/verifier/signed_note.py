"""C2SP signed notes, verifier keys, tlog checkpoints and cosignatures: writing, reading, checking.

Follows c2sp.org/signed-note (Ed25519, type 0x01), c2sp.org/tlog-checkpoint and
c2sp.org/tlog-cosignature (cosignature/v1, timestamped Ed25519, type 0x04). Reading is strict:
anything that is not exactly what the specifications allow is refused with `MalformedNote`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# Signature type bytes (signed-note, "Signature types").
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_KEY_BYTES = {ED25519: 32, COSIGNATURE_V1: 32}
_SIGNATURE_BYTES = {ED25519: 64, COSIGNATURE_V1: 8 + 64}
KEY_HASH_BYTES = 4
# The signature lines a note may carry; the specification asks to accept at least 16.
MAX_SIGNATURES = 64
# A note larger than this is refused before it is read.
MAX_NOTE_BYTES = 64 * 1024
_DASH = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_HASH = re.compile(r"[0-9a-f]{8}")
_COSIGNATURE_HEADER = b"cosignature/v1\n"
# Aval's extension lines of a checkpoint, after the three lines of the standard body.
HEAD_HASH_LINE = "aval/head-hash"
ISSUED_AT_LINE = "aval/issued-at"
_HEX32 = re.compile(r"[0-9a-f]{64}")
_ISSUED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class MalformedNote(ValueError):
    """Bytes that are not a note, checkpoint, signature line or key of the C2SP formats."""


class NoteNotVerified(ValueError):
    """A note that no trusted key signs, or whose signature by a trusted key is wrong."""


def _decode_base64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedNote(f"{what} is not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedNote(f"{what} is not canonical base64")
    return raw


def check_key_name(name: str) -> str:
    """Checks a key name: non-empty, no Unicode space, no `+`, no control character.

    Args:
        name: The name.

    Returns:
        The name.

    Raises:
        MalformedNote: The name breaks one of these rules.
    """
    if not name:
        raise MalformedNote("a key name must not be empty")
    for char in name:
        if char.isspace() or char == "+" or ord(char) < 0x20 or ord(char) == 0x7F:
            raise MalformedNote(f"the key name {name!r} holds a space, a + or a control character")
    return name


def key_hash(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4].

    Args:
        name: The key name.
        key_type: The signature type byte (`ED25519`, `COSIGNATURE_V1`).
        public_key: The raw public key.

    Returns:
        The first four bytes of the hash.
    """
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key)
    return digest.digest()[:KEY_HASH_BYTES]


@dataclass(frozen=True)
class VerifierKey:
    """A public key that verifies note signatures, with its name and signature type.

    Attributes:
        name: The key name, as in signature lines.
        key_type: `ED25519` (a log's signature) or `COSIGNATURE_V1` (a witness's).
        public_key: The raw 32-byte Ed25519 public key.
    """

    name: str
    key_type: int
    public_key: bytes

    @property
    def key_hash(self) -> bytes:
        """The 4-byte key ID that signature lines of this key start with."""
        return key_hash(self.name, self.key_type, self.public_key)

    def text(self) -> str:
        """The verifier key string: `<name>+<8 hex key ID>+<base64(type || key)>`."""
        material = base64.b64encode(bytes([self.key_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{material}"


def parse_verifier_key(text: str) -> VerifierKey:
    """Reads a verifier key string (`<name>+<8 hex key ID>+<base64(type || key)>`).

    Args:
        text: The string, surrounding blanks ignored.

    Returns:
        The key.

    Raises:
        MalformedNote: Not a verifier key string of an Ed25519 type (0x01 or 0x04), or its
            key ID does not match its name and key.
    """
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedNote("a verifier key string reads <name>+<8 hex digits>+<base64 key>")
    name, hash_hex, material = parts
    check_key_name(name)
    if not _HEX_HASH.fullmatch(hash_hex):
        raise MalformedNote("the key ID of a verifier key string is 8 lowercase hex digits")
    raw = _decode_base64(material, "the key of the verifier key string")
    if not raw or raw[0] not in _KEY_BYTES or len(raw) != 1 + _KEY_BYTES[raw[0]]:
        raise MalformedNote(
            "the verifier key is not an Ed25519 key of type 0x01 (log) or 0x04 (cosignature/v1)"
        )
    key = VerifierKey(name, raw[0], raw[1:])
    if key.key_hash.hex() != hash_hex:
        raise MalformedNote(f"the key ID {hash_hex} does not match the name and key")
    return key


@dataclass(frozen=True)
class SignatureLine:
    """One signature line of a note: `— <name> base64(key ID || signature)`."""

    name: str
    key_hash: bytes
    signature: bytes

    def text(self) -> str:
        """The line, with its final newline."""
        encoded = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{_DASH}{self.name} {encoded}\n"

    def made_by(self, key: VerifierKey) -> bool:
        """Whether the line names this key (name and key ID both match)."""
        return self.name == key.name and self.key_hash == key.key_hash


def parse_signature_line(line: str) -> SignatureLine:
    """Reads one signature line, without its newline.

    Raises:
        MalformedNote: The line is not `— <name> <base64>` with at least 5 bytes encoded.
    """
    if not line.startswith(_DASH):
        raise MalformedNote("a signature line starts with an em dash and a space")
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise MalformedNote("a signature line reads '— <name> <base64 signature>'")
    name, encoded = parts
    check_key_name(name)
    raw = _decode_base64(encoded, f"the signature of {name}")
    if len(raw) <= KEY_HASH_BYTES:
        raise MalformedNote(f"the signature of {name} is too short")
    return SignatureLine(name, raw[:KEY_HASH_BYTES], raw[KEY_HASH_BYTES:])


def check_text(text: str, what: str) -> None:
    """Refuses control characters other than newline (signed-note, "Format")."""
    for char in text:
        if ord(char) < 0x20 and char != "\n":
            raise MalformedNote(f"{what} holds the control character {ord(char):#04x}")


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and its signature lines, in order."""

    text: bytes
    signatures: tuple[SignatureLine, ...]

    def encode(self) -> bytes:
        """The note as it is written: text, a blank line, one line per signature."""
        return self.text + b"\n" + "".join(line.text() for line in self.signatures).encode()


def parse_signature_lines(data: bytes, *, allow_none: bool = False) -> tuple[SignatureLine, ...]:
    """Reads a block of signature lines (each ending with a newline), as a witness answers.

    Args:
        data: The lines.
        allow_none: Whether an empty block is accepted.

    Returns:
        The lines, in order.

    Raises:
        MalformedNote: Not UTF-8, a line that is not a signature line, or too many lines.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote("the signature lines are not UTF-8") from exc
    if not text:
        if allow_none:
            return ()
        raise MalformedNote("a signed note carries at least one signature line")
    check_text(text, "the signature lines")
    if not text.endswith("\n"):
        raise MalformedNote("every signature line ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signature lines")
    return tuple(parse_signature_line(line) for line in lines)


def parse_note(data: bytes) -> Note:
    """Reads a signed note strictly.

    Args:
        data: The note: its text ending in a newline, a blank line, one or more signature lines.

    Returns:
        The note; its signatures are not checked (see `verify_note`).

    Raises:
        MalformedNote: Anything else (too large, not UTF-8, control characters, no signature,
            a malformed signature line).
    """
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedNote(f"the note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote("the note is not UTF-8") from exc
    check_text(text, "the note")
    split = data.rfind(b"\n\n")
    if split < 0:
        raise MalformedNote("no blank line separates the note's text from its signatures")
    return Note(data[: split + 1], parse_signature_lines(data[split + 2 :]))


def _ed25519_ok(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, then the note's text."""
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


def signature_verifies(key: VerifierKey, text: bytes, line: SignatureLine) -> int | None:
    """Checks one signature line of a note against a key (the line must be made by it).

    Args:
        key: The key.
        text: The note's text.
        line: The line.

    Returns:
        None when the signature is wrong; otherwise 0 for a log signature (type 0x01) or the
        cosignature's timestamp (type 0x04).
    """
    if not line.made_by(key) or len(line.signature) != _SIGNATURE_BYTES[key.key_type]:
        return None
    if key.key_type == ED25519:
        return 0 if _ed25519_ok(key.public_key, text, line.signature) else None
    (timestamp,) = struct.unpack(">Q", line.signature[:8])
    if timestamp >= 2**63:
        return None
    message = cosignature_message(text, timestamp)
    return timestamp if _ed25519_ok(key.public_key, message, line.signature[8:]) else None


@dataclass(frozen=True)
class Verified:
    """A note whose signatures were checked: the keys that sign it, with their timestamps."""

    text: bytes
    signed_by: tuple[tuple[VerifierKey, int], ...]


def verify_note(data: bytes, keys: Iterable[VerifierKey]) -> Verified:
    """Reads a note and checks its signatures against trusted keys (signed-note, "Signatures").

    Lines of unknown keys are ignored. A line of a trusted key (same name and key ID) that
    does not verify refuses the whole note, and so does a note no trusted key signs.

    Args:
        data: The signed note.
        keys: The trusted keys.

    Returns:
        The note's text and the trusted keys that sign it.

    Raises:
        MalformedNote: The note is malformed.
        NoteNotVerified: No trusted key signs it, or a trusted key's signature is wrong.
    """
    note = parse_note(data)
    trusted = list(keys)
    signed_by: list[tuple[VerifierKey, int]] = []
    for line in note.signatures:
        for key in trusted:
            if not line.made_by(key):
                continue
            timestamp = signature_verifies(key, note.text, line)
            if timestamp is None:
                raise NoteNotVerified(f"the signature of {key.name} does not verify")
            signed_by.append((key, timestamp))
    if not signed_by:
        raise NoteNotVerified("no trusted key signs the note")
    return Verified(note.text, tuple(signed_by))


def sign_line(
    name: str, public_key: bytes, text: bytes, sign: Callable[[bytes], bytes]
) -> SignatureLine:
    """Signs a note's text with an Ed25519 key (type 0x01), as a log does.

    Args:
        name: The key name.
        public_key: The raw public key of `sign`.
        text: The note's text.
        sign: Signs bytes with the private key (64-byte Ed25519 signature).

    Returns:
        The signature line.
    """
    return SignatureLine(check_key_name(name), key_hash(name, ED25519, public_key), sign(text))


def cosign_line(
    name: str, public_key: bytes, text: bytes, timestamp: int, sign: Callable[[bytes], bytes]
) -> SignatureLine:
    """Cosigns a checkpoint's text (cosignature/v1), as a witness does.

    Args:
        name: The witness's key name.
        public_key: The raw public key of `sign`.
        text: The checkpoint's note text.
        timestamp: POSIX seconds of the cosignature.
        sign: Signs bytes with the witness's private key.

    Returns:
        The signature line.
    """
    signature = struct.pack(">Q", timestamp) + sign(cosignature_message(text, timestamp))
    return SignatureLine(
        check_key_name(name), key_hash(name, COSIGNATURE_V1, public_key), signature
    )


@dataclass(frozen=True)
class Checkpoint:
    """The text of a C2SP tlog checkpoint.

    Attributes:
        origin: The log's identity (first line).
        tree_size: Leaves in the tree.
        root_hash: The RFC 6962 root over them (32 bytes).
        extensions: The extension lines, each non-empty, without newlines.
    """

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def encode(self) -> bytes:
        """The note text: origin, size, base64 root and extension lines, each ending in newline.

        Raises:
            MalformedNote: A line would be empty or hold a control character, or the root is
                not 32 bytes.
        """
        if len(self.root_hash) != 32 or not 0 <= self.tree_size < 2**63:
            raise MalformedNote("a checkpoint has a 32-byte root and a size below 2^63")
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root_hash).decode()]
        lines.extend(self.extensions)
        for line in lines:
            if not line or "\n" in line:
                raise MalformedNote("a checkpoint's lines are neither empty nor hold a newline")
            check_text(line, "the checkpoint")
        return ("\n".join(lines) + "\n").encode("utf-8")


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Reads a checkpoint's note text strictly (tlog-checkpoint, "Note text").

    Args:
        text: The note text (without the blank line and signatures).

    Returns:
        The checkpoint.

    Raises:
        MalformedNote: Fewer than three lines, an empty line, a size with leading zeros or not
            decimal, a root that is not canonical base64 of 32 bytes, or no final newline.
    """
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote("the checkpoint is not UTF-8") from exc
    check_text(decoded, "the checkpoint")
    if not decoded.endswith("\n"):
        raise MalformedNote("the checkpoint does not end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise MalformedNote("a checkpoint has at least three lines, none of them empty")
    origin, size, root = lines[:3]
    if not _SIZE.fullmatch(size) or int(size) >= 2**63:
        raise MalformedNote(f"the tree size {size!r} is not a decimal without leading zeros")
    root_hash = _decode_base64(root, "the root hash")
    if len(root_hash) != 32:
        raise MalformedNote("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(lines[3:]))


def aval_extensions(head_hash: bytes, issued_at: str) -> tuple[str, ...]:
    """Aval's two extension lines: the chain hash of the last event and the signing time.

    Args:
        head_hash: The chain hash of event tree_size (32 bytes).
        issued_at: When the checkpoint was signed (`chain.utc_iso`).

    Returns:
        `aval/head-hash <64 hex>` and `aval/issued-at <ISO 8601 UTC, microseconds>`.
    """
    return (f"{HEAD_HASH_LINE} {head_hash.hex()}", f"{ISSUED_AT_LINE} {issued_at}")


def read_aval_extensions(checkpoint: Checkpoint) -> tuple[bytes, str]:
    """Reads Aval's extension lines back: the head hash and the signing time.

    Raises:
        MalformedNote: The checkpoint does not carry exactly Aval's two extension lines.
    """
    if len(checkpoint.extensions) != 2:
        raise MalformedNote("an Aval checkpoint has exactly two extension lines")
    head_line, time_line = checkpoint.extensions
    head_name, _, head = head_line.partition(" ")
    time_name, _, issued_at = time_line.partition(" ")
    if head_name != HEAD_HASH_LINE or not _HEX32.fullmatch(head):
        raise MalformedNote(f"the fourth line is not '{HEAD_HASH_LINE} <64 hex digits>'")
    if time_name != ISSUED_AT_LINE or not _ISSUED_AT.fullmatch(issued_at):
        raise MalformedNote(f"the fifth line is not '{ISSUED_AT_LINE} <UTC time>'")
    return bytes.fromhex(head), issued_at


def origin_of(log_name: str, tenant: str) -> str:
    """The origin of a tenant's checkpoints: `<log name>/<tenant>` (one log per tenant)."""
    return f"{log_name}/{tenant}"


def tenant_of(origin: str) -> str:
    """The tenant an origin names: what follows its last `/` (tenant ids hold no `/`)."""
    return origin.rpartition("/")[2]


def cosignature_lines(lines: Sequence[SignatureLine]) -> str:
    """Signature lines as text, one per line."""
    return "".join(line.text() for line in lines)
