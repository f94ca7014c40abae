"""A verdict (or a claim) binds to the version of the decision the reviewer was shown.

Every change of a decision bumps its version (`decisions.save`): a claim, a verdict (an
amendment is one), an expiry. A reviewer's tool sends the version it displayed
(`seen_version`); if the decision has changed since, the gateway refuses with CASE_CHANGED and
the reviewer must look at the case again. The check runs on the row locked for update, in the
transaction that writes the verdict, so no change can slip between the check and the write.

The reviewer's own claims do not count as changes: a claim alters nobody's view of the case,
and a reviewer who shows a case, claims it, then decides must not be sent back to re-read it.
They are recognised in the trail: each change records the version it produced
(`decision_version`), and every version after the one seen must come from a `decision.claimed`
event of the caller. A version the trail cannot explain counts as a change.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import trail
from aval.audit_store.records import Decision
from aval.service.errors import FailedPrecondition

_MAX_EVENTS = 10_000


async def check(
    conn: AsyncConnection[Any], tenant: str, d: Decision, caller: str, seen_version: int
) -> None:
    """Refuses when `d` changed since `seen_version`, other than by `caller`'s own claims.

    Args:
        conn: The transaction in which `d` is locked for update.
        tenant: The decision's tenant.
        d: The decision as locked.
        caller: Who acts.
        seen_version: The version the caller was shown; 0 binds to nothing.

    Raises:
        FailedPrecondition: CASE_CHANGED, naming the version seen and the current one.
    """
    if seen_version == 0 or seen_version == d.version:
        return
    if seen_version < d.version:
        flt = trail.EventFilter(tenant_id=tenant, decision_id=d.id, kind="decision.claimed")
        events = await trail.query_events(conn, flt, after_seq=0, limit=_MAX_EVENTS)
        own = {
            data.get("decision_version")
            for e in events
            if isinstance(data := e.body.get("data"), dict)
            and e.actor_id == caller
            and data.get("claimed_by") == caller
        }
        if own >= set(range(seen_version + 1, d.version + 1)):
            return
    raise FailedPrecondition(
        "CASE_CHANGED", decision=d.id, seen_version=seen_version, current_version=d.version
    )
