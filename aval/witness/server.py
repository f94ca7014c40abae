"""`aval witness serve`: the witness's HTTP server (c2sp.org/tlog-witness), one process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aval.verifier import signed_note
from aval.witness.logs import LogsFileError, load_logs
from aval.witness.protocol import MAX_REQUEST_BYTES, Answer, Witness
from aval.witness.state import WitnessState

log = logging.getLogger("aval.witness")


class WitnessStartError(Exception):
    """The witness cannot start; the message names the option and the fix."""


def load_witness_key(path: Path) -> Ed25519PrivateKey:
    """Reads the witness's private key (PEM, PKCS8, unencrypted; `aval keys generate`).

    Raises:
        WitnessStartError: The file cannot be read or is not an Ed25519 private key.
    """
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise WitnessStartError(
            f"--key {path}: not a readable unencrypted Ed25519 PEM private key ({exc}); "
            "create one with `aval keys generate --witness NAME`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessStartError(f"--key {path}: not an Ed25519 key")
    return key


def build_witness(args: argparse.Namespace) -> Witness:
    """The witness the command line describes, its files checked.

    Raises:
        WitnessStartError: A file or the name is unusable.
    """
    key = load_witness_key(Path(args.key))
    try:
        logs = load_logs(Path(args.logs))
    except LogsFileError as exc:
        raise WitnessStartError(f"--logs: {exc}") from exc
    try:
        signed_note.check_key_name(args.name)
    except signed_note.MalformedNote as exc:
        raise WitnessStartError(f"--name: {exc}") from exc
    try:
        state = WitnessState(Path(args.state))
    except OSError as exc:
        raise WitnessStartError(f"--state {args.state}: {exc}") from exc
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Witness(args.name, public, key.sign, logs, state, lambda: int(time.time()))


# A peer that sends nothing for this long is disconnected, and at most this many connections
# are served at once (others are closed at once): an unauthenticated peer cannot hold the
# witness's threads and memory by opening connections and leaving them idle.
IDLE_SECONDS = 10.0
MAX_CONNECTIONS = 64


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, up to `limit` connections at once."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limit: int = MAX_CONNECTIONS,
    ) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning(
                "refused a connection from %s: %d already open", client_address, MAX_CONNECTIONS
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler(witness: Witness, idle_seconds: float = IDLE_SECONDS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the protocol asks clients to use
        server_version = "aval-witness"
        timeout = idle_seconds  # the socket's timeout: an idle or slow peer is dropped

        def _answer(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/add-checkpoint":
                self._answer(Answer(404, b"not found; POST /add-checkpoint\n"))
                return
            length_text = self.headers.get("Content-Length", "")
            if not length_text.isdigit() or int(length_text) > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._answer(Answer(400, b"a Content-Length up to 65536 bytes is required\n"))
                return
            body = self.rfile.read(int(length_text))
            try:
                answer = witness.add_checkpoint(body)
            except Exception:  # a failing disk: answered 500, logged, the process goes on
                log.exception("add-checkpoint failed")
                answer = Answer(500, b"the witness could not record the checkpoint\n")
            self._answer(answer)

        def do_GET(self) -> None:
            if self.path != "/":
                self._answer(Answer(404, b"not found\n"))
                return
            self._answer(Answer(200, witness.verifier_key.text().encode() + b"\n"))

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    """Runs the witness until SIGTERM or SIGINT.

    Prints, on standard output, the address it listens on and its verifier key string.

    Returns:
        0 after a clean stop; 1 when it cannot start (the reason on standard error).
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    try:
        witness = build_witness(args)
        host, _, port = str(args.listen).rpartition(":")
        if not host or not port.isdigit():
            raise WitnessStartError(f"--listen {args.listen}: expected HOST:PORT")
        try:
            httpd = BoundedHTTPServer((host, int(port)), _handler(witness))
        except OSError as exc:
            raise WitnessStartError(f"--listen {args.listen}: {exc.strerror or exc}") from exc
    except WitnessStartError as exc:
        print(f"aval witness: {exc}", file=sys.stderr)
        return 1
    bound_host, bound_port = httpd.server_address[:2]
    print(f"export AVAL_WITNESS_URL=http://{bound_host!s}:{bound_port}", flush=True)
    print(f"export AVAL_WITNESS_KEY={witness.verifier_key.text()}", flush=True)
    log.info("witness %s listening on %s:%s", witness.name, bound_host, bound_port)
    signal.signal(signal.SIGTERM, _stop)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        witness.state.close()
    return 0
