"""The logs a witness follows: origins and the verifier keys their checkpoints must carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aval.verifier import signed_note
from aval.verifier.signed_note import VerifierKey

# An origin ending so names every origin under its prefix: a deployment's tenants.
WILDCARD = "/*"


class LogsFileError(ValueError):
    """A logs file that cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class KnownLogs:
    """The logs a witness accepts checkpoints of.

    Attributes:
        exact: origin -> the keys that may sign its checkpoints.
        prefixes: origin prefix (ending in `/`) -> keys, for `<prefix>/*` lines.
    """

    exact: dict[str, tuple[VerifierKey, ...]]
    prefixes: dict[str, tuple[VerifierKey, ...]]

    def keys_for(self, origin: str) -> tuple[VerifierKey, ...]:
        """The keys trusted for an origin; empty when the origin is unknown."""
        if origin in self.exact:
            return self.exact[origin]
        for prefix, keys in self.prefixes.items():
            rest = origin[len(prefix) :]
            if origin.startswith(prefix) and rest and "/" not in rest:
                return keys
        return ()


def parse_logs(text: str, source: str) -> KnownLogs:
    """Reads a logs file: one `<origin> <verifier key string>` per line.

    `#` starts a comment; blank lines are skipped. An origin may end with `/*` to accept
    every `<prefix>/<name>` origin (one per tenant of an Aval deployment). A log may have
    several keys (one line each), e.g. during a key rotation.

    Args:
        text: The file's text.
        source: The file's name, for errors.

    Returns:
        The logs.

    Raises:
        LogsFileError: A line is not an origin and a log verifier key (type 0x01).
    """
    exact: dict[str, list[VerifierKey]] = {}
    prefixes: dict[str, list[VerifierKey]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source}, line {number}"
        if len(parts) != 2:
            raise LogsFileError(
                f"{where}: expected '<origin> <verifier key>', e.g. "
                "'aval.example.fr/* aval.example.fr+1a2b3c4d+AZ...'"
            )
        origin, key_text = parts
        try:
            key = signed_note.parse_verifier_key(key_text)
        except signed_note.MalformedNote as exc:
            raise LogsFileError(f"{where}: {exc}") from exc
        if key.key_type != signed_note.ED25519:
            raise LogsFileError(f"{where}: the key is not a log's Ed25519 key (type 0x01)")
        if origin.endswith(WILDCARD):
            prefixes.setdefault(origin[:-1], []).append(key)
        else:
            exact.setdefault(origin, []).append(key)
    if not exact and not prefixes:
        raise LogsFileError(f"{source}: no log; add a line '<origin> <verifier key>'")
    return KnownLogs(
        {origin: tuple(keys) for origin, keys in exact.items()},
        {prefix: tuple(keys) for prefix, keys in prefixes.items()},
    )


def load_logs(path: Path) -> KnownLogs:
    """Reads a logs file from disk.

    Raises:
        LogsFileError: The file cannot be read or is malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogsFileError(f"cannot read the logs file {path}: {exc}") from exc
    return parse_logs(text, str(path))
