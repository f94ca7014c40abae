"""What a witness spends per cosignature: CPU time of one `add-checkpoint` (parse, check the
log's signature, verify the consistency proof, record the state in SQLite, cosign), against the
baseline of checking the log's signature alone, measured in the same run.

    .venv/bin/python -m tests.benchmarks.witness_cost [--rounds 500] [--step 37]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.verifier import merkle, signed_note
from aval.verifier.notes import raw_public_key
from aval.witness.logs import parse_logs
from aval.witness.protocol import Witness
from aval.witness.state import WitnessState

LOG = "aval.bench.example"
ORIGIN = f"{LOG}/ville-a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--step", type=int, default=37, help="events between checkpoints")
    options = parser.parse_args()
    log_key = Ed25519PrivateKey.generate()
    log_vkey = signed_note.VerifierKey(
        LOG, signed_note.ED25519, raw_public_key(log_key.public_key())
    )
    witness_key = Ed25519PrivateKey.generate()
    leaves: list[bytes] = []
    roots: list[bytes] = []
    frontier = merkle.Frontier()
    total = options.rounds * options.step
    for i in range(total):
        frontier.append(merkle.leaf_hash(b"event %d" % i))
        leaves.append(merkle.leaf_hash(b"event %d" % i))
        if (i + 1) % options.step == 0:
            roots.append(frontier.root())
    bodies: list[bytes] = []
    notes: list[bytes] = []
    for n, root in enumerate(roots, start=1):
        size, old = n * options.step, (n - 1) * options.step
        text = signed_note.Checkpoint(ORIGIN, size, root, ("aval/head-hash " + "ab" * 32,)).encode()
        line = signed_note.sign_line(LOG, log_vkey.public_key, text, log_key.sign)
        note = signed_note.Note(text, (line,)).encode()
        proof = merkle.consistency_proof(old, leaves[:size]) if old else []
        lines = b"".join(base64.b64encode(h) + b"\n" for h in proof)
        bodies.append(b"old %d\n" % old + lines + b"\n" + note)
        notes.append(note)
    with tempfile.TemporaryDirectory() as folder:
        witness = Witness(
            "bench.example/witness",
            raw_public_key(witness_key.public_key()),
            witness_key.sign,
            parse_logs(f"{LOG}/* {log_vkey.text()}\n", "logs"),
            WitnessState(Path(folder)),
            lambda: int(time.time()),
        )
        start = time.process_time()
        for note in notes:
            signed_note.verify_note(note, [log_vkey])
        baseline = (time.process_time() - start) / len(notes)
        start, wall = time.process_time(), time.perf_counter()
        for body in bodies:
            answer = witness.add_checkpoint(body)
            assert answer.status == 200, answer.body
        full = (time.process_time() - start) / len(bodies)
        elapsed = (time.perf_counter() - wall) / len(bodies)
    print(f"{len(bodies)} checkpoints, {options.step} events apart, tree up to {total} events")
    print(f"check the log's signature only: {baseline * 1e6:8.1f} µs CPU per checkpoint")
    print(f"whole add-checkpoint + cosign:  {full * 1e6:8.1f} µs CPU per checkpoint")
    print(f"ratio: {full / baseline:.2f}x the signature check")
    print(f"wall time per add-checkpoint (SQLite fsync included): {elapsed * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
