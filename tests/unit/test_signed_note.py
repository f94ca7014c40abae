"""C2SP signed notes, verifier keys, checkpoints and cosignatures: formats read strictly."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.verifier import signed_note as sn
from aval.verifier.notes import (
    NoteFormatError,
    format_note,
    parse_note,
    raw_public_key,
    read_public_key,
)

# The example of golang.org/x/mod/sumdb/note (its documentation): a verifier key, the private
# key it belongs to, and a note it signed. Known answers for the key ID and the signature.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n".encode()
)
ROOT = bytes(range(32))
HEAD = bytes(range(32, 64))
ISSUED = "2026-12-06T21:00:00.123456Z"


def test_key_id_and_signature_match_the_known_answers() -> None:
    key = sn.parse_verifier_key(GO_VKEY)
    assert key.name == "PeterNeumann" and key.key_type == sn.ED25519
    assert sn.key_hash("PeterNeumann", sn.ED25519, key.public_key).hex() == "c74f20a3"
    assert key.text() == GO_VKEY
    private = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    assert raw_public_key(private.public_key()) == key.public_key
    line = sn.sign_line("PeterNeumann", key.public_key, GO_TEXT, private.sign)
    assert sn.Note(GO_TEXT, (line,)).encode() == GO_NOTE
    verified = sn.verify_note(GO_NOTE, [key])
    assert verified.text == GO_TEXT and verified.signed_by == ((key, 0),)


def _log() -> tuple[Ed25519PrivateKey, sn.VerifierKey]:
    private = Ed25519PrivateKey.generate()
    return private, sn.VerifierKey(
        "aval.example.fr", sn.ED25519, raw_public_key(private.public_key())
    )


def _checkpoint_text(size: int = 12) -> bytes:
    return sn.Checkpoint(
        "aval.example.fr/mairie-a", size, ROOT, sn.aval_extensions(HEAD, ISSUED)
    ).encode()


def test_checkpoint_round_trip_and_old_format_still_read() -> None:
    text = _checkpoint_text()
    assert text.decode().split("\n")[:3] == [
        "aval.example.fr/mairie-a",
        "12",
        base64.b64encode(ROOT).decode(),
    ]
    assert sn.parse_checkpoint(text) == sn.Checkpoint(
        "aval.example.fr/mairie-a", 12, ROOT, sn.aval_extensions(HEAD, ISSUED)
    )
    assert parse_note(text) == {
        "tenant": "mairie-a",
        "tree_size": "12",
        "root_hash": ROOT.hex(),
        "head_hash": HEAD.hex(),
        "issued_at": ISSUED,
        "origin": "aval.example.fr/mairie-a",
    }
    old = format_note(
        {
            "tenant": "mairie-a",
            "tree_size": 12,
            "root_hash": ROOT.hex(),
            "head_hash": HEAD.hex(),
            "issued_at": ISSUED,
            "key_id": "0123456789abcdef",
        }
    )
    assert parse_note(old)["root_hash"] == ROOT.hex()


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(text: bytes) -> bytes:
        assert old in text
        return text.replace(old, new, 1)

    return change


@pytest.mark.parametrize(
    "change",
    [
        _replace(b"\n12\n", b"\n012\n"),
        _replace(b"\n12\n", b"\n+12\n"),
        _replace(b"\n12\n", b"\n1 2\n"),
        _replace(b"\n12\n", b"\n\n"),
        _replace(b"\n12\n", b"\n99999999999999999999\n"),
        _replace(base64.b64encode(ROOT), base64.b64encode(ROOT[:31])),
        _replace(base64.b64encode(ROOT), ROOT.hex().encode()),
        _replace(base64.b64encode(ROOT), base64.b64encode(ROOT).rstrip(b"=")),
        _replace(b"aval.example.fr/mairie-a\n", b""),
        _replace(b"aval.example.fr", b"aval\texample"),
        _replace(b"aval/issued-at", b"\naval/issued-at"),
        _replace(b"aval/head-hash", b"aval/head"),
        _replace(HEAD.hex().encode(), HEAD.hex().upper().encode()),
        _replace(b"Z\n", b"Z"),
        _replace(b"Z\n", b"Z\r\n"),
        _replace(b"Z\n", b"Z\nmore\n"),
        _replace(b"aval.example.fr", b"\xff"),
    ],
)
def test_every_malformed_checkpoint_is_refused(change: Callable[[bytes], bytes]) -> None:
    with pytest.raises(NoteFormatError):
        parse_note(change(_checkpoint_text()))


def test_a_note_verifies_only_with_a_trusted_key_and_a_good_signature() -> None:
    private, key = _log()
    text = _checkpoint_text()
    note = sn.Note(text, (sn.sign_line(key.name, key.public_key, text, private.sign),)).encode()
    assert sn.verify_note(note, [key]).text == text
    _, other = _log()
    with pytest.raises(sn.NoteNotVerified, match="no trusted key"):
        sn.verify_note(note, [other])
    # Another key under the same name is ignored, not failed (signed-note, "Signatures").
    assert sn.verify_note(note, [other, key]).signed_by == ((key, 0),)
    forged = note.replace(b"\n12\n", b"\n13\n")
    with pytest.raises(sn.NoteNotVerified, match="does not verify"):
        sn.verify_note(forged, [key])


@pytest.mark.parametrize(
    "change",
    [
        lambda note: note.replace(b"\n\n\xe2\x80\x94", b"\n\xe2\x80\x94"),  # no blank line
        lambda note: note.rstrip(b"\n"),  # no final newline
        lambda note: note + b"\n",  # an empty signature block
        lambda note: note.replace("\u2014 ".encode(), b"- "),
        lambda note: note.replace(b"aval.example.fr ", b"aval.example.fr  "),
        lambda note: note.replace(b"aval.example.fr ", b"aval+example "),
        lambda note: note.replace(b"=\n", b"\n"),
        lambda note: note.replace(b"\n\n", b"\n\x01\n\n"),
        lambda note: note + "\u2014 w AAAA\n".encode(),  # 3 bytes: no room for a signature
        lambda note: note + note[note.index("\u2014".encode()) :] * sn.MAX_SIGNATURES,
    ],
)
def test_every_malformed_note_is_refused(change: Callable[[bytes], bytes]) -> None:
    private, key = _log()
    text = _checkpoint_text()
    note = sn.Note(text, (sn.sign_line(key.name, key.public_key, text, private.sign),)).encode()
    with pytest.raises(sn.MalformedNote):
        sn.parse_note(change(note))


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(sn.MalformedNote):
        sn.parse_verifier_key(text)


def test_read_public_key_takes_a_log_verifier_key_string() -> None:
    assert read_public_key(GO_VKEY) == sn.parse_verifier_key(GO_VKEY).public_key


def test_cosignature_v1_is_timestamped_and_signs_the_whole_text() -> None:
    private = Ed25519PrivateKey.generate()
    public = raw_public_key(private.public_key())
    witness = sn.VerifierKey("prefecture.example.fr/temoin", sn.COSIGNATURE_V1, public)
    assert sn.parse_verifier_key(witness.text()) == witness
    text = _checkpoint_text()
    line = sn.cosign_line(witness.name, public, text, 1_700_000_000, private.sign)
    assert line.made_by(witness)
    assert line.signature[:8] == (1_700_000_000).to_bytes(8, "big")
    assert sn.signature_verifies(witness, text, line) == 1_700_000_000
    assert sn.signature_verifies(witness, _checkpoint_text(13), line) is None
    # The same key read as a log key (type 0x01) has another key ID: the line is not its.
    assert not line.made_by(sn.VerifierKey(witness.name, sn.ED25519, public))
    later = sn.SignatureLine(line.name, line.key_hash, b"\x00" * 7 + b"\x01" + line.signature[8:])
    assert sn.signature_verifies(witness, text, later) is None
