"""The witness's side of c2sp.org/tlog-witness `add-checkpoint`: check, remember, cosign."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from aval.verifier import merkle, signed_note
from aval.verifier.merkle_tree import MalformedHash
from aval.verifier.signed_note import MalformedNote, NoteNotVerified
from aval.witness.logs import KnownLogs
from aval.witness.state import WitnessState

log = logging.getLogger(__name__)

# The largest request body read; a checkpoint with 63 proof lines and 16 signatures is far less.
MAX_REQUEST_BYTES = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(rb"old (0|[1-9][0-9]{0,18})")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type and body."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def _text(status: int, message: str) -> Answer:
    return Answer(status, message.encode("utf-8") + b"\n")


@dataclass(frozen=True)
class Submission:
    """A parsed `add-checkpoint` body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


def parse_submission(body: bytes) -> Submission:
    """Reads an `add-checkpoint` body: `old N`, proof lines, an empty line, a signed note.

    Raises:
        MalformedNote: The body is not exactly that.
    """
    first, newline, rest = body.partition(b"\n")
    match = _OLD.fullmatch(first)
    if not newline or match is None:
        raise MalformedNote("the first line is not 'old <size>'")
    proof: list[bytes] = []
    while True:
        line, newline, rest = rest.partition(b"\n")
        if not newline:
            raise MalformedNote("no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise MalformedNote(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            decoded = base64.b64decode(line, validate=True)
        except binascii.Error as exc:
            raise MalformedNote("a consistency proof line is not base64") from exc
        if len(decoded) != 32 or base64.b64encode(decoded) != line:
            raise MalformedNote("a consistency proof line is not one 32-byte hash in base64")
        proof.append(decoded)
    return Submission(int(match.group(1)), tuple(proof), rest)


class Witness:
    """Checks submitted checkpoints against what it saw before, and cosigns consistent ones.

    Args:
        name: The witness's key name (its cosignature lines carry it).
        public_key: Its raw Ed25519 public key.
        sign: Signs bytes with its private key.
        logs: The logs it follows and their keys.
        state: Its memory.
        now: POSIX seconds now.
    """

    def __init__(
        self,
        name: str,
        public_key: bytes,
        sign: Callable[[bytes], bytes],
        logs: KnownLogs,
        state: WitnessState,
        now: Callable[[], int],
    ) -> None:
        self.name = signed_note.check_key_name(name)
        self.public_key = public_key
        self._sign = sign
        self.logs = logs
        self.state = state
        self._now = now

    @property
    def verifier_key(self) -> signed_note.VerifierKey:
        """The key that verifies this witness's cosignatures (type 0x04)."""
        return signed_note.VerifierKey(self.name, signed_note.COSIGNATURE_V1, self.public_key)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Handles `POST /add-checkpoint` (c2sp.org/tlog-witness).

        Args:
            body: The request body.

        Returns:
            200 with the cosignature line; 400 malformed; 403 no trusted signature; 404
            unknown origin; 409 (`text/x.tlog.size`, the latest size) when `old` is not the
            latest size cosigned, or 409 when the same size comes with another root; 422 when
            the consistency proof fails.
        """
        if len(body) > MAX_REQUEST_BYTES:
            return _text(400, f"the request is larger than {MAX_REQUEST_BYTES} bytes")
        try:
            submission = parse_submission(body)
            note = signed_note.parse_note(submission.note)
            checkpoint = signed_note.parse_checkpoint(note.text)
        except MalformedNote as exc:
            return _text(400, f"malformed request: {exc}")
        keys = self.logs.keys_for(checkpoint.origin)
        if not keys:
            return _text(404, f"unknown origin {checkpoint.origin!r}")
        try:
            signed_note.verify_note(submission.note, keys)
        except NoteNotVerified as exc:
            return _text(403, f"the checkpoint is not signed by the log's key: {exc}")
        if submission.old_size > checkpoint.tree_size:
            return _text(400, "the old size is larger than the checkpoint's size")
        return self._check_and_cosign(submission, checkpoint, note.text, body)

    def _check_and_cosign(
        self,
        submission: Submission,
        checkpoint: signed_note.Checkpoint,
        text: bytes,
        body: bytes,
    ) -> Answer:
        origin, size, root = checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash
        now = self._now()
        with self.state.checking() as tx:
            latest = tx.latest(origin)
            latest_size = latest.tree_size if latest is not None else 0
            if submission.old_size != latest_size:
                return Answer(409, b"%d\n" % latest_size, SIZE_CONTENT_TYPE)
            old_root = latest.root_hash if latest is not None else merkle.EMPTY_ROOT
            if size == latest_size and root != old_root:
                reason = f"split view: another root for tree size {size}"
                tx.refuse(origin, 409, reason, body, now)
                log.warning("refused a checkpoint of %s: %s", origin, reason)
                return _text(409, reason)
            try:
                consistent = merkle.verify_consistency(
                    latest_size, size, old_root, root, list(submission.proof)
                )
            except MalformedHash:
                consistent = False
            if not consistent:
                reason = f"the consistency proof from {latest_size} to {size} does not verify"
                tx.refuse(origin, 422, reason, body, now)
                log.warning("refused a checkpoint of %s: %s", origin, reason)
                return _text(422, reason)
            tx.record(origin, size, root, submission.note, now)
        line = signed_note.cosign_line(self.name, self.public_key, text, now, self._sign)
        log.info("cosigned %s at tree size %d", origin, size)
        return Answer(200, line.text().encode("utf-8"))
