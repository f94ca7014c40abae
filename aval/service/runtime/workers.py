"""`aval serve --workers N`: N server processes on one port, so one host uses all its cores.

Replicas are stateless and coordinate only through PostgreSQL, so N processes on one machine
behave as one service. They share the listening port (SO_REUSEPORT): the kernel spreads new
connections among them. This process settles the database and files once, starts the
workers, announces the address when all are ready, and stops them all on SIGTERM or SIGINT,
or when one of them dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import socket
import sys
from types import FrameType

from aval.service.runtime.server import (
    Launch,
    StartupError,
    announce,
    configure_logging,
    run_loop,
    serve_worker,
)
from aval.service.settings import Settings

log = logging.getLogger("aval")
_READY_TIMEOUT_SECONDS = 60.0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _worker(settings_json: str, ready: multiprocessing.Queue[int]) -> None:
    configure_logging()
    settings = Settings.model_validate_json(settings_json)
    run_loop(settings, serve_worker(settings, on_ready=ready.put, share_port=True))


def supervise(launch: Launch, host: str) -> int:
    """Runs `launch.settings.workers` worker processes until told to stop; returns the exit code."""
    settings = launch.settings
    port = int(settings.listen.rsplit(":", 1)[1])
    if port == 0:
        port = _free_port(host)
        settings = settings.model_copy(update={"listen": f"{host}:{port}"})
    context = multiprocessing.get_context("spawn")  # no fork of a process holding gRPC state
    ready: multiprocessing.Queue[int] = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(settings.model_dump_json(), ready), name=f"aval-worker-{i}"
        )
        for i in range(settings.workers)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                worker.terminate()  # SIGTERM: each drains its calls

    def reload(signum: int, frame: FrameType | None) -> None:
        # One worker reloads and records it; it tells the others (service/runtime/reloading.py).
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGHUP)
                return

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=_READY_TIMEOUT_SECONDS)
    except queue.Empty:
        stop(signal.SIGTERM, None)
        raise StartupError(
            f"the workers did not all start within {_READY_TIMEOUT_SECONDS:.0f}s; see the log"
        ) from None
    announce(host, port, launch.exports, settings.http_listen)
    log.info("Aval listening on %s:%d with %d workers", host, port, len(workers))
    status = 0
    # One list per turn: a worker that ends between two `is_alive()` calls must not leave
    # `wait` with nothing to wait for (it would block for ever).
    while alive := [w for w in workers if w.is_alive()]:
        multiprocessing.connection.wait([w.sentinel for w in alive])
        if not stopping and any(w.exitcode is not None for w in workers):
            log.error("a worker stopped unexpectedly; stopping the others")
            status = 1
            stop(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
    if any(w.exitcode not in (0, -signal.SIGTERM) for w in workers):
        status = status or 1
    sys.stdout.flush()
    return status
