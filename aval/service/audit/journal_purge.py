"""The access journal's retention (R13): rows older than the retention are purged, by age
measured with the deployment's clock; nothing else ever deletes them."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aval.audit_store import Store, access_journal
from aval.service.cancelling import stop_if_asked
from aval.service.clock import Clock

log = logging.getLogger(__name__)


def cutoff(now: datetime, months: int) -> datetime:
    """`now` minus `months` calendar months (the last day of a shorter month when needed)."""
    total = now.year * 12 + (now.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return now.replace(year=year, month=month, day=min(now.day, days))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


async def purge_expired(store: Store, clock: Clock, months: int) -> int:
    """Deletes the rows read more than `months` months ago; returns how many went."""
    before = cutoff(clock.now(), months)
    async with store.single_statement() as conn:
        purged = await access_journal.purge(conn, before)
    if purged:
        log.info("access journal: purged %d rows read before %s", purged, before.isoformat())
    return purged


async def run_purge(store: Store, clock: Clock, months: int, interval: float) -> None:
    """Runs until cancelled: purges the journal every `interval` seconds."""
    while True:
        try:
            await purge_expired(store, clock, months)
        except asyncio.CancelledError:
            raise
        except Exception:  # must outlive a database restart; logged, retried
            log.exception("purging the access journal failed; retrying in %.1fs", interval)
        stop_if_asked()
        await asyncio.sleep(interval)
