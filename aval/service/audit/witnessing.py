"""Witnesses: the AVAL_WITNESSES_FILE, and each new checkpoint submitted to them for cosigning.

Submission follows c2sp.org/tlog-witness: `old <size>`, the consistency proof from the size the
witness last cosigned, a blank line, the signed checkpoint. It runs in the background once the
checkpoint is committed, with a timeout per request and a few attempts, and only logs what
fails: a witness that is down never slows or fails a Propose, nor the signing of checkpoints.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aval.audit_store import Store, cosignatures
from aval.audit_store.checkpoints import CheckpointRecord
from aval.service.audit.proofs import consistency_proof
from aval.service.clock import Clock
from aval.service.errors import FailedPrecondition
from aval.service.settings import Settings
from aval.verifier import signed_note
from aval.verifier.signed_note import MalformedNote, SignatureLine, VerifierKey

log = logging.getLogger(__name__)

SETTING = "AVAL_WITNESSES_FILE"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
# Seconds before the second attempt; doubled after each failure.
_FIRST_BACKOFF_SECONDS = 0.5


class WitnessesFileError(ValueError):
    """A witnesses file that cannot be used; the message names the file, the entry and the fix."""


class _WitnessEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str
    key: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the URL of a witness starts with https:// (or http://)")
        return value.rstrip("/")

    @field_validator("key")
    @classmethod
    def _cosigner_key(cls, value: str) -> str:
        try:
            key = signed_note.parse_verifier_key(value)
        except MalformedNote as exc:
            raise ValueError(f"not a verifier key string: {exc}") from exc
        if key.key_type != signed_note.COSIGNATURE_V1:
            raise ValueError("not a witness's key (cosignature/v1, type 0x04)")
        return value.strip()


class _WitnessesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    witnesses: list[_WitnessEntry] = Field(min_length=1)


@dataclass(frozen=True)
class ConfiguredWitness:
    """A witness Aval submits checkpoints to.

    Attributes:
        name: The operator's label, in the logs.
        url: Its submission prefix (`<url>/add-checkpoint` is posted to).
        key: The key its cosignatures verify with.
    """

    name: str
    url: str
    key: VerifierKey


def load_witnesses(path: Path) -> list[ConfiguredWitness]:
    """Reads the witnesses file (YAML: `witnesses:` a list of `name`, `url`, `key`).

    Raises:
        WitnessesFileError: The file cannot be read or an entry is wrong.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WitnessesFileError(
            f"{SETTING}: cannot read {path} as YAML ({exc}); write 'witnesses:' then a list of "
            "name, url and key (see docs/witness.md)"
        ) from exc
    try:
        spec = _WitnessesFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise WitnessesFileError(
            f"{SETTING}: {path}, {where}: {first['msg']}; each witness has a name, its url and "
            "the verifier key string its operator published (`aval keys generate --witness`)"
        ) from exc
    witnesses = [
        ConfiguredWitness(e.name, e.url, signed_note.parse_verifier_key(e.key))
        for e in spec.witnesses
    ]
    keys = [(w.key.name, w.key.key_hash) for w in witnesses]
    if len(set(keys)) != len(keys):
        raise WitnessesFileError(f"{SETTING}: {path} names the same witness key twice")
    return witnesses


def settle_witnesses(settings: Settings) -> list[ConfiguredWitness]:
    """The witnesses of the settings, checked at start-up (empty without a file).

    Raises:
        WitnessesFileError: The file is unusable.
    """
    if settings.witnesses_file is None:
        return []
    witnesses = load_witnesses(settings.witnesses_file)
    for witness in witnesses:
        log.info("checkpoints are submitted to witness %s at %s", witness.name, witness.url)
    return witnesses


def submitter_of(settings: Settings, store: Store, clock: Clock) -> WitnessSubmitter | None:
    """The submitter of a worker, None without witnesses (the file was checked at start-up)."""
    witnesses = load_witnesses(settings.witnesses_file) if settings.witnesses_file else []
    if not witnesses:
        return None
    return WitnessSubmitter(
        store,
        witnesses,
        clock,
        timeout=settings.witness_timeout_seconds,
        attempts=settings.witness_attempts,
    )


def submission_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """An `add-checkpoint` request body (tlog-witness)."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


class WitnessSubmitter:
    """Submits new checkpoints to the witnesses, in the background, and stores cosignatures.

    Checkpoints of one tenant are submitted one after the other, so that each witness sees
    them in order; the size a witness last cosigned is read from the stored cosignatures, and
    corrected from its 409 answer when it differs.

    Args:
        store: The store (cosignatures are written with it).
        witnesses: The witnesses.
        clock: The time of `received_at`.
        timeout: Seconds per request.
        attempts: Attempts per witness and checkpoint, for network errors and 5xx answers.
    """

    def __init__(
        self,
        store: Store,
        witnesses: Sequence[ConfiguredWitness],
        clock: Clock,
        *,
        timeout: float,
        attempts: int,
    ) -> None:
        self.store = store
        self.witnesses = tuple(witnesses)
        self.clock = clock
        self.attempts = attempts
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, record: CheckpointRecord) -> None:
        """Starts submitting a committed checkpoint to every witness; returns at once."""
        if not record.note_key_name:  # a note of the first format is no C2SP checkpoint
            return
        task = asyncio.create_task(self._submit_all(record), name="aval-witness-submit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Waits for the submissions under way (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Stops the submissions under way and closes the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._client.aclose()

    async def _submit_all(self, record: CheckpointRecord) -> None:
        lock = self._locks.setdefault(record.tenant_id, asyncio.Lock())
        async with lock:
            await asyncio.gather(
                *(self._submit_logged(witness, record) for witness in self.witnesses)
            )

    async def _submit_logged(self, witness: ConfiguredWitness, record: CheckpointRecord) -> None:
        try:
            await self._submit(witness, record)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let a witness break the service; logged
            log.exception(
                "submitting checkpoint %s/%d to witness %s failed",
                record.tenant_id,
                record.tree_size,
                witness.name,
            )

    async def _submit(self, witness: ConfiguredWitness, record: CheckpointRecord) -> None:
        tenant, size = record.tenant_id, record.tree_size
        async with self.store.reading() as conn:
            acknowledged = await cosignatures.acknowledged_sizes(conn, tenant)
        old = acknowledged.get((witness.key.name, witness.key.key_hash), 0)
        backoff = _FIRST_BACKOFF_SECONDS
        attempt = 0
        while attempt < self.attempts:
            if old > size:
                log.info(
                    "witness %s already cosigned %s at %d > %d", witness.name, tenant, old, size
                )
                return
            try:
                async with self.store.snapshot() as conn:
                    proof = await consistency_proof(conn, tenant, old, size)
            except FailedPrecondition as exc:
                log.error("no consistency proof of %s from %d to %d: %s", tenant, old, size, exc)
                return
            body = submission_body(old, proof, record.note())
            try:
                response = await self._client.post(f"{witness.url}/add-checkpoint", content=body)
            except httpx.HTTPError as exc:
                attempt += 1
                log.warning("witness %s unreachable (%s), attempt %d", witness.name, exc, attempt)
                await asyncio.sleep(backoff)
                backoff *= 2
                continue
            if response.status_code == 200:
                await self._store(witness, record, response.content)
                return
            content_type = response.headers.get("content-type", "")
            if response.status_code == 409 and content_type.startswith(SIZE_CONTENT_TYPE):
                reported = response.text.strip()
                if not reported.isdigit() or int(reported) == old:
                    log.error("witness %s answered 409 with %r", witness.name, reported)
                    return
                old = int(reported)  # the size it last cosigned: prove from there
                attempt += 1
                continue
            if response.status_code >= 500:
                attempt += 1
                log.warning(
                    "witness %s answered %d, attempt %d",
                    witness.name,
                    response.status_code,
                    attempt,
                )
                await asyncio.sleep(backoff)
                backoff *= 2
                continue
            # 400, 403, 404, 409 (another root for a size it cosigned), 422: never retried.
            log.error(
                "witness %s refused checkpoint %s/%d: %d %s",
                witness.name,
                tenant,
                size,
                response.status_code,
                response.text.strip()[:500],
            )
            return
        log.error("gave up submitting %s/%d to witness %s", tenant, size, witness.name)

    async def _store(
        self, witness: ConfiguredWitness, record: CheckpointRecord, body: bytes
    ) -> None:
        try:
            lines = signed_note.parse_signature_lines(body)
        except MalformedNote as exc:
            log.error("witness %s answered malformed cosignatures: %s", witness.name, exc)
            return
        valid: list[SignatureLine] = [
            line
            for line in lines
            if line.made_by(witness.key)
            and signed_note.signature_verifies(witness.key, record.signed_note, line) is not None
        ]
        if not valid:
            log.error("witness %s answered no valid cosignature of its key", witness.name)
            return
        received: datetime = self.clock.now()
        async with self.store.transaction() as conn:
            await cosignatures.insert(conn, record.tenant_id, record.tree_size, valid, received)
        log.info(
            "witness %s cosigned %s at tree size %d",
            witness.name,
            record.tenant_id,
            record.tree_size,
        )
