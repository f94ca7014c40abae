"""The Ed25519 private key that signs checkpoints: loading it, generating and writing key pairs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aval.audit_store.seals import Sealer
from aval.verifier.notes import SigningKeyError, key_id, public_key_text, raw_public_key

PRIVATE_KEY_NAME = "aval-signing.key"
PUBLIC_KEY_NAME = "aval-signing.pub"


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
        raw = raw_public_key(private_key.public_key())
        return cls(private_key, raw, key_id(raw))

    @property
    def public_key_hex(self) -> str:
        """The raw public key in hex, as ListCheckpoints and the witness publish it."""
        return self.public_key_raw.hex()

    def sealer(self) -> Sealer:
        """The key that seals what the service appends (`audit_store.seals`).

        Derived from the private key (HKDF-SHA256, info `aval.v1/trail-seal-key`): every
        replica that holds the key file seals alike, and the database never sees it.

        Returns:
            The sealer.
        """
        raw = self._private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"aval.v1/trail-seal-key"
        ).derive(raw)
        return Sealer(key, self.key_id)

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
    raw = raw_public_key(key.public_key())
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
