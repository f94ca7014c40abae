"""ProveInclusion and ProveConsistency: RFC 9162 proofs of a tenant's trail against checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import checkpoints, cosignatures, trail
from aval.audit_store.checkpoints import CheckpointRecord
from aval.service.audit.access_journal import journal_read
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from aval.service.identity import Principal
from aval.service.requests.audit import ProveConsistencyIn, ProveInclusionIn
from aval.verifier import merkle
from aval.verifier.events import AuditEvent

ACTION = "audit.query"


@dataclass(frozen=True)
class InclusionProof:
    """An event, the checkpoint it is proven against, and its audit path.

    Attributes:
        event: The event; its leaf is ``merkle.leaf_hash(event.canonical)``.
        leaf_index: ``event.seq - 1``.
        checkpoint: The signed checkpoint whose root the path leads to.
        audit_path: RFC 9162 inclusion proof, from the leaf up.
    """

    event: AuditEvent
    leaf_index: int
    checkpoint: CheckpointRecord
    audit_path: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """Two checkpoints and the proof that the larger tree only appended to the smaller one.

    Attributes:
        old: The checkpoint of the smaller tree; None when the database no longer keeps one
            of that size (the retention rule thinned it): the caller checks the proof against
            the checkpoint it holds.
        new: The checkpoint of the larger tree.
        proof: RFC 9162 consistency proof.
        old_size: The smaller tree's size.
    """

    old: CheckpointRecord | None
    new: CheckpointRecord
    proof: list[bytes]
    old_size: int


async def _checkpoint(conn: AsyncConnection[Any], tenant: str, tree_size: int) -> CheckpointRecord:
    """The checkpoint of this size, or the latest when 0, with its cosignatures."""
    if tree_size == 0:
        found = await checkpoints.latest(conn, tenant)
        if found is None:
            raise FailedPrecondition("NO_CHECKPOINT", tenant=tenant)
    else:
        found = await checkpoint_of_size(conn, tenant, tree_size)
    [witnessed] = await cosignatures.attach(conn, [found])
    return witnessed


async def checkpoint_of_size(
    conn: AsyncConnection[Any], tenant: str, tree_size: int
) -> CheckpointRecord:
    """The tenant's checkpoint of exactly this size.

    Raises:
        NotFound: None of that size. The refusal names the kept sizes nearest to it, which the
            caller can ask for instead: the retention rule thins older checkpoints
            (docs/signing.md), so a size once signed may be kept no more.
        FailedPrecondition: The tenant has no checkpoint at all (NO_CHECKPOINT).
    """
    found = await checkpoints.at_size(conn, tenant, tree_size)
    if found is not None:
        return found
    nearest = await checkpoints.nearest_sizes(conn, tenant, tree_size)
    if not nearest:
        raise FailedPrecondition("NO_CHECKPOINT", tenant=tenant)
    raise NotFound(
        "CHECKPOINT_NOT_FOUND",
        tenant=tenant,
        tree_size=tree_size,
        nearest=", ".join(str(size) for size in nearest),
    )


async def _range_roots(
    conn: AsyncConnection[Any],
    tenant: str,
    tree_size: int,
    hashers: Sequence[merkle.RangeRoots],
) -> None:
    """Streams the leaf hashes of events 1..tree_size once into every hasher.

    Raises:
        FailedPrecondition: TRAIL_GAP, when an event the checkpoint covers is missing.
    """
    needed = max((h.needed for h in hashers), default=0)
    expected = 1
    async with contextlib.aclosing(trail.iter_leaf_hashes(conn, tenant, needed)) as leaves:
        async for seq, leaf in leaves:
            if seq != expected:
                break
            for hasher in hashers:
                hasher.add(leaf)
            expected += 1
    if expected <= needed:
        raise FailedPrecondition("TRAIL_GAP", seq=expected, tenant=tenant, tree_size=tree_size)


async def inclusion_paths(
    conn: AsyncConnection[Any], tenant: str, tree_size: int, leaf_indexes: Sequence[int]
) -> list[list[bytes]]:
    """The audit paths of several leaves of one tree, reading the trail once.

    Use a connection of `Store.snapshot()`, so that every path describes the same trail.

    Args:
        conn: A connection of the store.
        tenant: The tenant.
        tree_size: The size of the tree (a checkpoint's).
        leaf_indexes: The 0-based leaf indexes (``seq - 1``), each below ``tree_size``.

    Returns:
        One RFC 9162 inclusion proof per leaf index, in the same order.

    Raises:
        FailedPrecondition: TRAIL_GAP, when an event the tree covers is missing.
    """
    hashers = [merkle.RangeRoots(merkle.inclusion_ranges(i, tree_size)) for i in leaf_indexes]
    await _range_roots(conn, tenant, tree_size, hashers)
    return [hasher.roots() for hasher in hashers]


async def consistency_proof(
    conn: AsyncConnection[Any], tenant: str, old_size: int, new_size: int
) -> list[bytes]:
    """The RFC 9162 consistency proof between two sizes of a tenant's tree, from its events.

    Args:
        conn: A connection of the store (`Store.snapshot()` for a stable trail).
        tenant: The tenant.
        old_size: The smaller size.
        new_size: The larger size.

    Returns:
        The proof (empty when old_size is 0 or equals new_size).

    Raises:
        FailedPrecondition: TRAIL_GAP, when an event under new_size is missing.
    """
    hasher = merkle.RangeRoots(merkle.consistency_ranges(old_size, new_size))
    await _range_roots(conn, tenant, new_size, [hasher])
    return hasher.roots()


async def prove_inclusion(
    deployment: Deployment, principal: Principal, request: ProveInclusionIn
) -> InclusionProof:
    """Proves that one event is in the tree a checkpoint signed.

    Args:
        deployment: The running deployment.
        principal: The caller.
        request: The event (by seq or id), and the checkpoint's size (the latest when 0).

    Returns:
        The event, the checkpoint and the audit path.

    Raises:
        InvalidArgument: Neither or both of seq and event_id; an unknown tenant.
        PermissionDenied: The caller may not query the tenant's trail.
        NotFound: No such event, or no checkpoint of that size.
        FailedPrecondition: No checkpoint yet (NO_CHECKPOINT), the event came after the
            checkpoint (NOT_YET_CHECKPOINTED), or an event under it is missing (TRAIL_GAP).
    """
    if bool(request.seq) == (request.event_id is not None):
        if request.seq:
            detail = "name the event by seq or by event_id, not both"
            raise InvalidArgument([FieldViolation("event_id", "INVALID_VALUE", {"detail": detail})])
        raise InvalidArgument([FieldViolation("seq", "REQUIRED")])
    tenant = deployment.tenant_for(principal, request.tenant, ACTION)
    # One snapshot: the checkpoint, the event and every leaf as of the same instant.
    async with deployment.store.snapshot() as conn:
        event = await trail.find_event(conn, tenant, seq=request.seq, event_id=request.event_id)
        if event is None:
            named = request.seq or request.event_id
            raise NotFound("EVENT_NOT_FOUND", event=named, tenant=tenant)
        checkpoint = await _checkpoint(conn, tenant, request.tree_size)
        if event.seq > checkpoint.tree_size:
            raise FailedPrecondition(
                "NOT_YET_CHECKPOINTED", seq=event.seq, tree_size=checkpoint.tree_size
            )
        [path] = await inclusion_paths(conn, tenant, checkpoint.tree_size, [event.seq - 1])
    # The proof shows the event, its data included: a read of its decision (R13).
    await journal_read(
        deployment, principal, [tenant], "event.prove", decisions=[event.decision_id]
    )
    return InclusionProof(event, event.seq - 1, checkpoint, path)


async def prove_consistency(
    deployment: Deployment, principal: Principal, request: ProveConsistencyIn
) -> ConsistencyProof:
    """Proves that the tree of a later checkpoint only appended to that of an earlier one.

    Args:
        deployment: The running deployment.
        principal: The caller.
        request: The two checkpoints' sizes (the latest checkpoint when new_size is 0).

    Returns:
        Both checkpoints and the consistency proof; the old checkpoint is None when the
        database no longer keeps one of old_size (thinned by the retention rule,
        docs/signing.md): the proof, computed from the events, is for the caller to check
        against the checkpoint of that size it holds (a bundle's).

    Raises:
        InvalidArgument: old_size above the new checkpoint's size; an unknown tenant.
        PermissionDenied: The caller may not query the tenant's trail.
        NotFound: No checkpoint of new_size.
        FailedPrecondition: No checkpoint yet (NO_CHECKPOINT), or an event under the new
            checkpoint is missing (TRAIL_GAP).
    """
    tenant = deployment.tenant_for(principal, request.tenant, ACTION)
    async with deployment.store.snapshot() as conn:
        new = await _checkpoint(conn, tenant, request.new_size)
        if request.old_size > new.tree_size:
            detail = f"larger than the new checkpoint's size {new.tree_size}"
            raise InvalidArgument([FieldViolation("old_size", "OUT_OF_RANGE", {"detail": detail})])
        found = await checkpoints.at_size(conn, tenant, request.old_size)
        old = (await cosignatures.attach(conn, [found]))[0] if found is not None else None
        proof = await consistency_proof(conn, tenant, request.old_size, new.tree_size)
    return ConsistencyProof(old, new, proof, request.old_size)
