"""The witness's add-checkpoint (c2sp.org/tlog-witness): every answer, split views refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.verifier import merkle, signed_note
from aval.verifier.notes import raw_public_key
from aval.witness.logs import LogsFileError, parse_logs
from aval.witness.protocol import Witness
from aval.witness.state import WitnessState

LOG = "aval.example.fr"
ORIGIN = f"{LOG}/mairie-a"


class Log:
    """A log that signs checkpoints over leaves it is given."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.key = signed_note.VerifierKey(
            LOG, signed_note.ED25519, raw_public_key(self.private.public_key())
        )

    def note(self, leaves: list[bytes], origin: str = ORIGIN) -> bytes:
        text = signed_note.Checkpoint(origin, len(leaves), merkle.root(leaves)).encode()
        line = signed_note.sign_line(LOG, self.key.public_key, text, self.private.sign)
        return signed_note.Note(text, (line,)).encode()


def leaves(count: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + b"event %d" % i) for i in range(count)]


def body(old: int, proof: list[bytes], note: bytes) -> bytes:
    lines = [b"old %d\n" % old, *(base64.b64encode(h) + b"\n" for h in proof), b"\n"]
    return b"".join(lines) + note


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(log: Log, tmp_path: Path) -> Witness:
    private = Ed25519PrivateKey.generate()
    logs = parse_logs(f"# the commune's deployment\n{LOG}/* {log.key.text()}\n", "logs.txt")
    clock = iter(range(1_700_000_000, 1_800_000_000))
    return Witness(
        "prefecture.example.fr/temoin",
        raw_public_key(private.public_key()),
        private.sign,
        logs,
        WitnessState(tmp_path),
        lambda: next(clock),
    )


def cosigned(witness: Witness, note: bytes, answer: bytes) -> int | None:
    text = signed_note.parse_note(note).text
    [line] = signed_note.parse_signature_lines(answer)
    return signed_note.signature_verifies(witness.verifier_key, text, line)


def test_cosigns_a_growing_log_and_refuses_a_split_view(witness: Witness, log: Log) -> None:
    first = log.note(leaves(3))
    answer = witness.add_checkpoint(body(0, [], first))
    assert answer.status == 200 and cosigned(witness, first, answer.body)
    second = log.note(leaves(7))
    proof = merkle.consistency_proof(3, leaves(7))
    answer = witness.add_checkpoint(body(3, proof, second))
    assert answer.status == 200 and cosigned(witness, second, answer.body)
    # The same size again: cosigned again; another root for it: a split view.
    assert witness.add_checkpoint(body(7, [], second)).status == 200
    fork = log.note(leaves(7, b"forged "))
    answer = witness.add_checkpoint(body(7, [], fork))
    assert answer.status == 409 and b"split view" in answer.body
    # A larger fork whose proof cannot link it to what the witness saw.
    bigger = leaves(9, b"forged ")
    answer = witness.add_checkpoint(body(7, merkle.consistency_proof(7, bigger), log.note(bigger)))
    assert answer.status == 422
    assert [status for _, status, _ in witness.state.refusals()] == [409, 422]
    latest = witness.state.latest(ORIGIN)
    assert (
        latest is not None and latest.tree_size == 7 and latest.root_hash == merkle.root(leaves(7))
    )


def test_a_stale_old_size_gets_409_with_the_latest_size(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(body(0, [], log.note(leaves(4)))).status == 200
    answer = witness.add_checkpoint(body(0, [], log.note(leaves(5))))
    assert (answer.status, answer.body, answer.content_type) == (409, b"4\n", "text/x.tlog.size")


def test_unknown_origin_key_and_malformed_requests(witness: Witness, log: Log) -> None:
    note = log.note(leaves(2))
    assert witness.add_checkpoint(body(0, [], log.note(leaves(2), "other.example/x"))).status == 404
    assert witness.add_checkpoint(body(0, [], log.note(leaves(2), f"{LOG}/a/b"))).status == 404
    assert witness.add_checkpoint(body(0, [], Log().note(leaves(2)))).status == 403
    assert witness.add_checkpoint(body(0, [], note.replace(b"\n2\n", b"\n3\n"))).status == 403
    assert witness.add_checkpoint(body(3, [], note)).status == 400
    for bad in (
        note,
        b"old 01\n\n" + note,
        b"old 0\nnot base64!\n\n" + note,
        b"old 0\n" + base64.b64encode(b"short") + b"\n\n" + note,
        b"old 0\n\n" + note.replace(b"\n\n", b"\n"),
        b"old 0\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n" + note,
    ):
        assert witness.add_checkpoint(bad).status == 400, bad
    assert witness.state.latest(ORIGIN) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# nothing\n",
        "origin-only\n",
        "a b c\n",
        "o PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    ],
)
def test_a_bad_logs_file_is_refused(text: str) -> None:
    with pytest.raises(LogsFileError):
        parse_logs(text, "logs.txt")
