"""The operator's configuration files that reload without a restart (issue 13, item 3).

A `Reloadable` part reads and validates its files into a `Staged` object without touching
what is in force; the `Reloader` stages every part first and applies them only when all are
valid, each `apply` being one assignment, so that no call ever sees half a configuration.
Parts: the principals file (AVAL_PRINCIPALS_FILE, `runtime/principals_reload.PrincipalsPart`),
the review policies (AVAL_POLICY_DIR) and the grants (AVAL_GRANTS_FILE); another part is one
more object in `Reloader.parts` (`runtime/reloading.parts`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

from aval.policies import PolicyBook, PolicyError, load_policy_dir
from aval.service.authorization import Authorizer, GrantsFileError


class ConfigurationInvalid(Exception):
    """A file that cannot be used: where, what, and how to mend it."""

    def __init__(self, part: str, file: str, line: int | None, problem: str, fix: str) -> None:
        self.part, self.file, self.line, self.problem, self.fix = part, file, line, problem, fix
        where = f"{file}:{line}" if line else file
        super().__init__(f"{part}: {where}: {problem} — fix: {fix}")


@dataclass(frozen=True)
class Revision:
    """A part after a reload: its revisions by name, and whether its files changed."""

    name: str
    revisions: dict[str, str]
    changed: bool


class Staged(Protocol):
    revision: Revision

    def apply(self) -> None:
        """Puts the staged configuration in force: one assignment, nothing that can fail."""


class Reloadable(Protocol):
    name: str

    def stage(self) -> Staged:
        """Reads and validates the part's files; raises ConfigurationInvalid."""


class Holder(Protocol):
    """What the parts swap into: the running deployment."""

    policies: PolicyBook
    authorizer: Authorizer


def fingerprint(files: Iterable[tuple[str, bytes]]) -> str:
    """One digest of named contents: any change of a name or a byte changes it."""
    digest = hashlib.sha256()
    for name, raw in sorted(files):
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(raw).digest())
    return "sha256:" + digest.hexdigest()[:16]


@dataclass
class _Swap:
    revision: Revision
    put: Callable[[], None]

    def apply(self) -> None:
        self.put()


@dataclass
class PoliciesPart:
    """The review policies of AVAL_POLICY_DIR; a decision keeps the revision it was proposed
    under, and a verdict follows the policy in force when it is given."""

    holder: Holder
    folder: Path
    name: str = "policies"
    _seen: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._seen = self._fingerprint()

    def _fingerprint(self) -> str:
        try:
            files = [(p.name, p.read_bytes()) for p in sorted(self.folder.glob("*.yaml"))]
        except OSError:
            return ""
        return fingerprint(files)

    def stage(self) -> Staged:
        seen = self._fingerprint()
        try:
            book = load_policy_dir(self.folder)
        except PolicyError as exc:
            raise ConfigurationInvalid(self.name, exc.path, exc.line, exc.message, exc.fix) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationInvalid(
                self.name, str(self.folder), None, str(exc), "check AVAL_POLICY_DIR"
            ) from exc
        revisions = {
            f"{tenant}/{decision_type}": policy.revision
            for tenant in sorted(book.tenants)
            for decision_type in book.decision_types(tenant)
            if (policy := book.get(tenant, decision_type)) is not None
        }
        changed = seen != self._seen

        def put() -> None:
            self.holder.policies = book
            self._seen = seen

        return _Swap(Revision(self.name, revisions, changed), put)


_GRANT_LINE = re.compile(r": line (\d+): ")


@dataclass
class GrantsPart:
    """The Casbin grants of AVAL_GRANTS_FILE (the packaged grants.csv when unset): what each
    role may do; callers bring their roles with each call."""

    holder: Holder
    grants_file: Path | None
    name: str = "grants"
    _seen: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._seen = self._revision()

    @property
    def path(self) -> Path:
        packaged = resources.files("aval.policies").joinpath("grants.csv")
        return self.grants_file or Path(str(packaged))

    def _revision(self) -> str:
        try:
            return fingerprint([("grants", self.path.read_bytes())])
        except OSError:
            return ""

    def stage(self) -> Staged:
        seen = self._revision()
        try:
            authorizer = Authorizer(grants_file=self.grants_file)
        except GrantsFileError as exc:
            text = str(exc)
            problem, _, fix = text.partition(" — fix: ")
            line = _GRANT_LINE.search(problem)
            raise ConfigurationInvalid(
                self.name,
                str(self.path),
                int(line[1]) if line else None,
                problem.removeprefix(f"{self.path}: "),
                fix or "check AVAL_GRANTS_FILE",
            ) from exc
        changed = seen != self._seen

        def put() -> None:
            self.holder.authorizer = authorizer
            self._seen = seen

        return _Swap(Revision(self.name, {"grants": seen}, changed), put)


@dataclass
class Reloader:
    """Stages every part, then applies them together; one reload at a time per process."""

    parts: list[Reloadable]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def stage(self) -> list[Staged]:
        """Every part staged; raises ConfigurationInvalid (nothing applied) on the first bad
        file."""
        return [part.stage() for part in self.parts]

    @staticmethod
    def apply(staged: list[Staged]) -> None:
        """Puts every staged part in force, with no await between: atomic for the event loop."""
        for one in staged:
            one.apply()
