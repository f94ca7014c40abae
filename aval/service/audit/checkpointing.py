"""Signed checkpoints: CreateCheckpoint, ListCheckpoints, the witness file and the periodic task."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime
from pathlib import Path

from aval.audit_store import checkpoints, cosignatures, seals, trail
from aval.audit_store.checkpoints import CheckpointRecord, TrailInconsistent
from aval.audit_store.seals import Adoption
from aval.service import cancelling
from aval.service.audit import signing
from aval.service.audit.signing import Signer
from aval.service.audit.witness_file import append_line, append_witness, witness_path
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition
from aval.service.identity import Principal
from aval.service.requests import ListCheckpointsIn, TenantIn
from aval.service.settings import Settings
from aval.verifier import signed_note
from aval.verifier.chain import GENESIS_HASH, utc_iso
from aval.verifier.notes import SigningKeyError

log = logging.getLogger(__name__)

CREATE_ACTION = "audit.checkpoint"
LIST_ACTION = "audit.verify"


def log_name(settings: Settings, signer: Signer) -> str:
    """The key name of this deployment's checkpoints: AVAL_TRAIL_ORIGIN, else `aval-<key id>`.

    Raises:
        SigningKeyError: AVAL_TRAIL_ORIGIN is not a valid key name.
    """
    name = settings.trail_origin or f"aval-{signer.key_id}"
    try:
        return signed_note.check_key_name(name)
    except signed_note.MalformedNote as exc:
        raise SigningKeyError(
            f"AVAL_TRAIL_ORIGIN: {exc}; name the deployment without spaces nor '+', "
            "e.g. aval.example.fr"
        ) from exc


def log_verifier_key(settings: Settings, signer: Signer) -> signed_note.VerifierKey:
    """The verifier key of this deployment's checkpoints (signed-note, Ed25519)."""
    return signed_note.VerifierKey(
        log_name(settings, signer), signed_note.ED25519, signer.public_key_raw
    )


def load_signer(settings: Settings) -> Signer | None:
    """The signing key of the settings (AVAL_SIGNING_KEY_FILE, else AVAL_SIGNING_KEY), or None.

    Raises:
        SigningKeyError: The key is configured but unusable.
    """
    text = settings.signing_key.get_secret_value() if settings.signing_key is not None else None
    return signing.load_signer(settings.signing_key_file, text)


def settle_signing_key(settings: Settings, *, demo_mode: bool) -> Settings:
    """Checks the signing key once at start-up, so that a bad key stops the start.

    In the demo, without a configured key, one is created the first time in
    `<data_dir>/keys/` and reused afterwards. Without any key the server still starts, with a
    warning, and refuses the checkpoint RPCs.

    Args:
        settings: The settings.
        demo_mode: Whether `aval serve --demo` runs.

    Returns:
        The settings, with the demo's key file when one was settled.

    Raises:
        SigningKeyError: The configured key is unusable.
    """
    if demo_mode and settings.signing_key_file is None and settings.signing_key is None:
        settings = settings.model_copy(
            update={"signing_key_file": signing.ensure_key_pair(settings.data_dir / "keys")}
        )
    signer = load_signer(settings)
    if signer is None:
        log.warning(
            "no checkpoint signing key: CreateCheckpoint and the periodic checkpoints are "
            "disabled; set AVAL_SIGNING_KEY_FILE to an Ed25519 key (`aval keys generate`)"
        )
    else:
        log.info(
            "checkpoints are signed with key %s; verifier key %s",
            signer.key_id,
            log_verifier_key(settings, signer).text(),
        )
    return settings


def start_periodic(deployment: Deployment) -> asyncio.Task[None] | None:
    """Starts the periodic checkpoints, unless there is no key or the interval is 0.

    Returns:
        The task, to give to `stop_periodic`; None when not started.
    """
    interval = deployment.settings.checkpoint_interval_seconds
    if deployment.signer is None or interval <= 0:
        return None
    return asyncio.create_task(run_checkpoints(deployment, interval), name="aval-checkpoints")


async def stop_periodic(task: asyncio.Task[None] | None) -> None:
    """Stops the task `start_periodic` started, if any, and waits for it to end."""
    await cancelling.stop(task)


def sign_checkpoint(
    signer: Signer,
    tenant_id: str,
    tree_size: int,
    root_hash: bytes,
    head_hash: bytes,
    frontier: bytes,
    issued_at: datetime,
    *,
    name: str,
) -> CheckpointRecord:
    """Writes and signs a checkpoint: a C2SP tlog checkpoint in a signed note.

    Its origin is `<name>/<tenant>`; two extension lines carry the head hash and the time.

    Args:
        signer: The deployment's signing key.
        tenant_id: The tenant.
        tree_size: Events covered.
        root_hash: RFC 9162 root over their canonical bytes.
        head_hash: Chain hash of the last event covered.
        frontier: The serialised Merkle frontier after `tree_size` leaves.
        issued_at: When it is signed (UTC, microseconds are kept).
        name: The log's key name (`log_name`).

    Returns:
        The checkpoint, ready to store.
    """
    note = signed_note.Checkpoint(
        signed_note.origin_of(name, tenant_id),
        tree_size,
        root_hash,
        signed_note.aval_extensions(head_hash, utc_iso(issued_at)),
    ).encode()
    line = signed_note.sign_line(name, signer.public_key_raw, note, signer.sign)
    return CheckpointRecord(
        tenant_id=tenant_id,
        tree_size=tree_size,
        root_hash=root_hash,
        head_hash=head_hash,
        issued_at=issued_at,
        key_id=signer.key_id,
        signed_note=note,
        signature=line.signature,
        frontier=frontier,
        note_key_name=line.name,
        note_key_hash=line.key_hash,
    )


def adoptions_path(settings: Settings) -> Path:
    """The record of the adopted events (docs/signing.md): `adoptions.jsonl` beside the
    witness file."""
    return witness_path(settings).with_name("adoptions.jsonl")


def read_adoptions(path: Path) -> dict[str, Adoption] | None:
    """The adoptions recorded in the file's first line; None when there is no record yet."""
    try:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    except FileNotFoundError:
        return None
    if not first.strip():
        return None
    return {
        item["tenant"]: Adoption(int(item["up_to_seq"]), bytes.fromhex(item["head_hash"]))
        for item in json.loads(first)["adoptions"]
    }


async def settle_adoptions(deployment: Deployment) -> dict[str, Adoption]:
    """Adopts, once, the events no checkpoint signs and no seal covers, written before seals.

    Run at start-up, before serving. On the first start with a signing key (no record beside
    the witness file), each tenant's events after its last checkpoint and before its first
    seal were written by a version that did not seal them, or without a key: they are adopted
    as if sealed, the adoption is logged as a warning and recorded in `adoptions.jsonl`, so
    that the next checkpoint signs them. Afterwards, only the recorded adoptions count: events
    appended later behind the service's back are never adopted.

    Args:
        deployment: The deployment, with a signing key.

    Returns:
        The adoptions in force, by tenant.
    """
    path = adoptions_path(deployment.settings)
    found = await asyncio.to_thread(read_adoptions, path)
    if found is not None:
        return found
    adopted: dict[str, Adoption] = {}
    async with deployment.store.snapshot() as conn:
        cur = await conn.execute(
            "SELECT h.tenant_id, COALESCE(MAX(c.tree_size), 0) FROM chain_heads h"
            " LEFT JOIN checkpoints c ON c.tenant_id = h.tenant_id"
            " GROUP BY h.tenant_id, h.seq HAVING h.seq > COALESCE(MAX(c.tree_size), 0)"
            " ORDER BY h.tenant_id"
        )
        for tenant, signed in await cur.fetchall():
            sealed = await seals.seals_after(conn, tenant, signed)
            up_to = sealed[0].first_seq - 1 if sealed else None
            if up_to is None:
                head = await trail.chain_head(conn, tenant)
                up_to = head[0] if head else 0
            if up_to <= signed:
                continue
            event = await trail.find_event(conn, tenant, seq=up_to)
            if event is None:
                continue
            adopted[tenant] = Adoption(up_to, event.hash)
            log.warning(
                "adopting events %d to %d of tenant %s: written before this service sealed "
                "what it appends (an upgrade, or a signing key added), they will be signed "
                "without proof that the service wrote them; recorded in %s",
                signed + 1,
                up_to,
                tenant,
                path,
            )
    line = {
        "adoptions": [
            {"tenant": t, "up_to_seq": a.up_to_seq, "head_hash": a.head_hash.hex()}
            for t, a in sorted(adopted.items())
        ],
        "recorded_at": utc_iso(deployment.clock.now()),
    }
    data = json.dumps(line, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"
    await asyncio.to_thread(append_line, path, data)
    # Another process of the deployment may have written first: the first line counts.
    return await asyncio.to_thread(read_adoptions, path) or adopted


# Tenants whose unsealed event was already logged, not to repeat the error every round.
_reported: set[tuple[str, int]] = set()


async def checkpoint_tenant(deployment: Deployment, tenant_id: str) -> CheckpointRecord:
    """Signs a checkpoint of a tenant's trail, as far as the service's seals cover it.

    Reads the trail in one snapshot; signs only events that a chain of seals (or the adoption,
    `settle_adoptions`) covers from the latest checkpoint, and logs an error naming the first
    event no seal covers: a forgery, never signed. Stores the checkpoint and appends it to the
    witness file in one transaction (the witness line is on disk before the commit). Safe with
    several replicas: when another one stored a checkpoint of the same size first, that one is
    returned.

    Args:
        deployment: The running deployment (no authorisation is checked here).
        tenant_id: The tenant.

    Returns:
        The new checkpoint, or the latest one when no sealed event was appended since.

    Raises:
        FailedPrecondition: No signing key (NO_SIGNING_KEY), or the events after the latest
            checkpoint do not continue its chain (TRAIL_BROKEN).
    """
    signer = deployment.signer
    sealer = deployment.store.sealer
    if signer is None or sealer is None:
        raise FailedPrecondition("NO_SIGNING_KEY")
    store = deployment.store
    adoption = deployment.adoptions.get(tenant_id) if deployment.adoptions else None
    try:
        async with store.snapshot() as conn:
            previous = await checkpoints.latest(conn, tenant_id)
            head = await trail.chain_head(conn, tenant_id)
            base_size = previous.tree_size if previous is not None else 0
            base_head = previous.head_hash if previous is not None else GENESIS_HASH
            sealed = await seals.seals_after(conn, tenant_id, base_size)
            plan = seals.plan(
                sealer,
                tenant_id,
                base_size,
                base_head,
                head[0] if head else 0,
                sealed,
                adoption,
            )
            found = await checkpoints.advance(
                conn, tenant_id, limit=plan.limit, boundaries=plan.boundaries
            )
    except TrailInconsistent as exc:
        raise FailedPrecondition(
            "TRAIL_BROKEN", tenant=exc.tenant_id, seq=exc.seq, detail=exc.detail
        ) from exc
    unsealed = found.not_as_sealed or plan.first_unsealed
    if unsealed and (tenant_id, unsealed) not in _reported:
        _reported.add((tenant_id, unsealed))
        log.error(
            "tenant %s: event %d is covered by no seal of this service (appended behind its "
            "back, or its seal removed); it and every later event stay unsigned; run "
            "`aval audit verify`",
            tenant_id,
            unsealed,
        )
    if previous is not None and previous.tree_size >= found.size:
        return previous
    if plan.adopted and found.size >= plan.adopted:
        log.warning("tenant %s: signing the adopted events up to %d", tenant_id, plan.adopted)
    record = sign_checkpoint(
        signer,
        tenant_id,
        found.size,
        found.root,
        found.head,
        found.frontier,
        deployment.clock.now(),
        name=log_name(deployment.settings, signer),
    )
    stored = None
    async with store.transaction() as conn:
        inserted = await checkpoints.insert(conn, record)
        if inserted:
            await asyncio.to_thread(append_witness, witness_path(deployment.settings), record)
            log.info(
                "signed checkpoint of %s at tree size %d (key %s)",
                tenant_id,
                found.size,
                signer.key_id,
            )
        else:
            stored = await checkpoints.at_size(conn, tenant_id, found.size)
    if inserted:
        if deployment.witnesses is not None:  # in the background, once committed
            deployment.witnesses.submit(record)
        return record
    assert stored is not None, "the conflicting checkpoint is committed"
    return stored


async def create_checkpoint(
    deployment: Deployment, principal: Principal, request: TenantIn
) -> CheckpointRecord:
    """CreateCheckpoint: signs a checkpoint of the tenant's trail now.

    Args:
        deployment: The running deployment.
        principal: The caller; needs the grant `audit.checkpoint` in the tenant.
        request: The tenant (the caller's when empty).

    Returns:
        The new checkpoint, or the latest one when the trail did not grow since.

    Raises:
        InvalidArgument: Unknown tenant.
        PermissionDenied: The caller may not checkpoint that tenant.
        FailedPrecondition: No signing key, or a trail that cannot be checkpointed.
    """
    tenant = deployment.tenant_for(principal, request.tenant, CREATE_ACTION)
    return await checkpoint_tenant(deployment, tenant)


async def list_checkpoints(
    deployment: Deployment, principal: Principal, request: ListCheckpointsIn
) -> tuple[list[CheckpointRecord], str]:
    """ListCheckpoints: the tenant's checkpoints (every one, or the newest `request.newest`)
    with their cosignatures, and the key.

    Args:
        deployment: The running deployment.
        principal: The caller; needs the grant `audit.verify` in the tenant.
        request: The tenant (the caller's when empty).

    Returns:
        The checkpoints, oldest first, and the hex raw public key of this deployment's signing
        key (empty when it has none).

    Raises:
        InvalidArgument: Unknown tenant.
        PermissionDenied: The caller may not read that tenant's checkpoints.
    """
    tenant = deployment.tenant_for(principal, request.tenant, LIST_ACTION)
    async with deployment.store.reading() as conn:
        listed = await checkpoints.list_all(conn, tenant, newest=request.newest)
        found = await cosignatures.attach(conn, listed)
    signer = deployment.signer
    return found, signer.public_key_hex if signer is not None else ""


def verifier_key_text(deployment: Deployment) -> str:
    """The deployment's verifier key string, "" when it has no signing key."""
    signer = deployment.signer
    if signer is None:
        return ""
    return log_verifier_key(deployment.settings, signer).text()


async def checkpoint_due_tenants(deployment: Deployment) -> int:
    """Signs a checkpoint for every tenant whose trail grew since its latest checkpoint.

    A tenant whose trail cannot be checkpointed is logged and skipped; the others still are.

    Args:
        deployment: The running deployment, with a signing key.

    Returns:
        How many tenants were looked at.
    """
    async with deployment.store.reading() as conn:
        due = await checkpoints.tenants_to_checkpoint(conn)
    for tenant in due:
        try:
            await checkpoint_tenant(deployment, tenant)
        except FailedPrecondition as exc:
            log.error("cannot checkpoint tenant %s: %s", tenant, exc.message)
    return len(due)


async def run_checkpoints(deployment: Deployment, interval: float) -> None:
    """Runs until cancelled: every `interval` seconds, checkpoints the tenants with new events.

    Each replica runs it; the intervals are jittered so that replicas rarely sign at once, and
    when they do the table's primary key keeps one checkpoint per size.

    Args:
        deployment: The running deployment, with a signing key.
        interval: Seconds between rounds (more than 0).
    """
    while True:
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))
        try:
            await checkpoint_due_tenants(deployment)
        except asyncio.CancelledError:
            raise
        except Exception:  # the task must outlive a database restart; logged, retried
            log.exception("periodic checkpoints failed; retrying in %.1fs", interval)
        cancelling.stop_if_asked()
