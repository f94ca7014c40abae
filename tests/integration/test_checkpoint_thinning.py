"""The database enforces the checkpoints' retention rule (migration 0029): `thin_checkpoints`,
called with the service's role, deletes only what verifier/retention.py drops at a time never
ahead of both the database's clock and the latest signing time; and the service's pass sends
the sizes to drop in batches."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors

from aval.service.audit.checkpoint_thinning import thin_checkpoints
from aval.service.clock import MovableClock
from aval.verifier.retention import RetainedPoint, retained
from tests.in_process import deployment_running

_COLUMNS = (
    "tenant_id, tree_size, root_hash, head_hash, issued_at, key_id, signed_note, signature,"
    " frontier"
)
_FAR = timedelta(days=365 * 50)
_BOUNDARIES = (timedelta(hours=1), timedelta(days=1), timedelta(days=31))


def _store(url: str, tenant: str, points: Sequence[RetainedPoint]) -> None:
    """Test rows, as a superuser: the rule reads only sizes, times and cosignatures."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY aval.checkpoints ({_COLUMNS}) FROM STDIN") as copy:
            for p in points:
                row = (tenant, p.tree_size, bytes(32), bytes(32), p.issued_at, "test")
                copy.write_row((*row, b"note", b"signature", b""))
        with cur.copy(
            "COPY aval.checkpoint_cosignatures (tenant_id, tree_size, witness, key_hash,"
            " signature, received_at) FROM STDIN"
        ) as copy:
            for p in points:
                if p.cosigned:
                    copy.write_row((tenant, p.tree_size, "témoin", b"wit1", b"sig", p.issued_at))


def _stored(url: str, tenant: str) -> frozenset[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tree_size FROM aval.checkpoints WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    return frozenset(row[0] for row in rows)


def _database_now(url: str) -> datetime:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


def _as_service(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url)
    conn.execute("SET ROLE aval_service")
    conn.execute("SET search_path = aval")
    conn.commit()
    return conn


def _thin(
    conn: psycopg.Connection[Any], tenant: str, sizes: Sequence[int], at: datetime
) -> tuple[int, datetime]:
    """Asks to delete `sizes` at `at`, in one transaction; returns how many went and the
    database's now() of that transaction."""
    with conn.transaction():
        now = conn.execute("SELECT now()").fetchone()
        gone = conn.execute(
            "SELECT thin_checkpoints(%s, %s, %s)", (tenant, list(sizes), at)
        ).fetchone()
    assert now is not None and gone is not None
    return int(gone[0]), now[0]


def _clamped(points: Sequence[RetainedPoint], asked: datetime, now: datetime) -> datetime:
    """The rule's time in the database: the caller's, never ahead of both its clock and the
    tenant's latest signing time."""
    latest = max(points, key=lambda p: p.tree_size)
    return min(asked, max(now, latest.issued_at))


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _spread(end: datetime) -> list[RetainedPoint]:
    """Every 13 minutes from a UTC midnight 40 days before `end` to 2 days before, then every
    25 s up to `end`; cosigned every 100th, the latest cosigned 3 days old and not the last of
    its hour. The first is not the last of its day either: only being first keeps it."""
    moments = []
    at = datetime.combine((end - timedelta(days=40)).astimezone(UTC).date(), time(), UTC)
    while at < end - timedelta(days=2):
        moments.append(at)
        at += timedelta(minutes=13)
    while at <= end:
        moments.append(at)
        at += timedelta(seconds=25)
    witnessed = next(
        size
        for size in range(len(moments) - 1, 0, -1)
        if end - moments[size - 1] > timedelta(days=3)
        and _hour(moments[size - 1]) == _hour(moments[size])  # the next is in the same hour
    )
    return [
        RetainedPoint(size, at, size == witnessed or (size < witnessed and size % 100 == 0))
        for size, at in enumerate(moments, 1)
    ]


@pytest.fixture
def tenant() -> str:
    return f"thin-{uuid.uuid4().hex[:10]}"


def test_the_service_role_cannot_delete_what_the_rule_keeps_even_asking_far_ahead(
    database_url: str, tenant: str
) -> None:
    points = _spread(_database_now(database_url) - timedelta(seconds=1))
    _store(database_url, tenant, points)
    everything = [p.tree_size for p in points]
    first, latest = everything[0], everything[-1]
    witnessed = max(p.tree_size for p in points if p.cosigned)
    far = points[-1].issued_at + _FAR
    with _as_service(database_url) as conn:
        # Asked at a time 50 years ahead, every size: only what the rule drops now goes.
        gone, now = _thin(conn, tenant, everything, far)
        kept = retained(points, now)
        assert _stored(database_url, tenant) == kept
        assert gone == len(points) - len(kept)
        assert retained(points, far) < kept  # what the caller's time alone would drop
        assert {first, latest, witnessed} <= kept
        # Only the cosignature keeps this one.
        uncosigned = [dataclasses.replace(p, cosigned=False) for p in points]
        assert witnessed not in retained(uncosigned, now)
        # Asking again, any time, deletes nothing more.
        assert _thin(conn, tenant, everything, far)[0] == 0
    # The old function, which took any sizes, is gone.
    with psycopg.connect(database_url) as conn, pytest.raises(errors.UndefinedFunction):
        conn.execute("SELECT aval.thin_checkpoints(%s, %s::bigint[])", (tenant, everything))


def test_a_clock_ahead_of_the_database_thins_up_to_its_latest_signing_time(
    database_url: str, tenant: str
) -> None:
    """As the end-to-end tests' clock, days ahead of the database's: the rule's time is the
    caller's while behind the latest signing time, and that time once past it."""
    ahead = _database_now(database_url) + timedelta(days=5)
    points = _spread(ahead)
    _store(database_url, tenant, points)
    everything = [p.tree_size for p in points]
    with _as_service(database_url) as conn:
        earlier = ahead - timedelta(days=3, minutes=7)
        gone, _ = _thin(conn, tenant, everything, earlier)
        kept = retained(points, earlier)
        assert _stored(database_url, tenant) == kept
        assert gone == len(points) - len(kept)
        signed = points[-1].issued_at  # the latest signing time, days ahead of the database
        gone, _ = _thin(conn, tenant, everything, signed + _FAR)
        assert _stored(database_url, tenant) == retained(points, signed) < kept
        assert gone == len(kept) - len(retained(points, signed))
        with pytest.raises(errors.NullValueNotAllowed, match="p_now"):
            conn.execute("SELECT thin_checkpoints(%s, %s, NULL)", (tenant, everything))


# Ages from the caller's time: anywhere from 3 days ahead to 90 days back, or a tier's edge
# give or take a microsecond.
_AGES = st.one_of(
    st.integers(min_value=-3 * 86400, max_value=90 * 86400).map(lambda s: timedelta(seconds=s)),
    st.builds(
        lambda edge, nudge: edge + timedelta(microseconds=nudge),
        st.sampled_from(_BOUNDARIES),
        st.sampled_from((-1, 0, 1)),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ages=st.lists(_AGES, min_size=1, max_size=60),
    cosigned=st.lists(st.booleans(), min_size=60, max_size=60),
    behind=st.integers(min_value=0, max_value=10 * 86400),
    far=st.booleans(),
)
def test_what_the_database_leaves_is_what_the_rule_keeps(
    database_url: str, ages: list[timedelta], cosigned: list[bool], behind: int, far: bool
) -> None:
    """Asked to delete every size, in one call, the database leaves exactly
    `retained(points, t)` at the clamped time t, for any signing times (even not growing with
    the sizes), cosignatures and caller's time."""
    tenant = f"prop-{uuid.uuid4().hex[:10]}"
    caller = _database_now(database_url) - timedelta(seconds=behind)
    points = [
        RetainedPoint(size * 3, caller - age, cosigned[size]) for size, age in enumerate(ages)
    ]
    _store(database_url, tenant, points)
    asked = caller + _FAR if far else caller
    with _as_service(database_url) as conn:
        gone, now = _thin(conn, tenant, [p.tree_size for p in points], asked)
    kept = retained(points, _clamped(points, asked, now))
    assert _stored(database_url, tenant) == kept
    assert gone == len(points) - len(kept)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=60 * 86400), min_size=1, max_size=80),
    cosigned=st.lists(st.booleans(), min_size=80, max_size=80),
    batch=st.integers(min_value=1, max_value=10),
)
def test_in_batches_the_database_leaves_what_the_rule_keeps(
    database_url: str, offsets: list[int], cosigned: list[bool], batch: int
) -> None:
    """Batch after batch, each reading only its own days and what earlier ones left, the
    result is the rule's on everything (signing times growing with sizes, as the rule
    assumes)."""
    tenant = f"batch-{uuid.uuid4().hex[:10]}"
    caller = _database_now(database_url)
    start = caller - timedelta(days=61)
    points = [
        RetainedPoint(size, start + timedelta(seconds=offset), cosigned[size - 1])
        for size, offset in enumerate(sorted(offsets), 1)
    ]
    _store(database_url, tenant, points)
    sizes = [p.tree_size for p in points]
    with _as_service(database_url) as conn:
        gone = sum(
            _thin(conn, tenant, sizes[at : at + batch], caller)[0]
            for at in range(0, len(sizes), batch)
        )
    kept = retained(points, caller)
    assert _stored(database_url, tenant) == kept
    assert gone == len(points) - len(kept)


async def test_a_pass_with_more_to_drop_than_a_batch_deletes_them_all(
    new_database: Callable[..., str], config_dir: Path, tmp_path: Path
) -> None:
    """The service's pass, 7 sizes per call and transaction: every size the rule drops goes,
    and the counts add up."""
    url = new_database()
    end = _database_now(url)
    old = [
        RetainedPoint(size, end - timedelta(days=3) + timedelta(minutes=10 * size))
        for size in range(1, 120)
    ]
    points = [*old, RetainedPoint(200, end - timedelta(minutes=5))]
    _store(url, "ville-a", points)
    clock = MovableClock()
    async with deployment_running(url, config_dir, clock=clock) as deployment:
        witness = tmp_path / "witness" / "checkpoints.jsonl"
        witness.parent.mkdir()
        settings = deployment.settings.model_copy(update={"witness_file": witness})
        done = await thin_checkpoints(dataclasses.replace(deployment, settings=settings), batch=7)
    kept = retained(points, clock.now())
    assert len(points) - len(kept) > 3 * 7
    assert _stored(url, "ville-a") == kept
    assert (done.tenants, done.deleted, done.kept) == (1, len(points) - len(kept), len(kept))


def test_a_cosignature_waits_for_the_thinning_pass_and_is_never_deleted_with_it(
    database_url: str, tenant: str
) -> None:
    """The pass reads which checkpoint is the latest cosigned, then deletes, in separate
    statements (migration 0030): a cosignature stored in between on a checkpoint it chose to
    drop went with it. A cosignature now waits for the pass to commit; then it is stored, or
    refused if its checkpoint is gone, never deleted unseen."""
    points = _spread(_database_now(database_url) - timedelta(seconds=1))
    _store(database_url, tenant, points)
    everything = [p.tree_size for p in points]
    at = points[-1].issued_at  # behind the database's clock: the rule's time is this
    dropped = sorted(set(everything) - retained(points, at))
    victim = dropped[-1]  # newer than the latest cosigned: a cosignature would make it kept
    witnessed = max(p.tree_size for p in points if p.cosigned)
    assert victim > witnessed
    insert = (
        "INSERT INTO checkpoint_cosignatures (tenant_id, tree_size, witness, key_hash,"
        " signature, received_at) VALUES (%s, %s, 'préfecture', '\\x77697432', 'sig', now())"
    )
    with _as_service(database_url) as thinning, _as_service(database_url) as witness:
        witness.execute("SET lock_timeout = '300ms'")  # for the session
        witness.commit()
        with thinning.transaction():
            thinning.execute("SELECT thin_checkpoints(%s, %s, %s)", (tenant, everything, at))
            # The pass has not committed: no witness's answer can be stored yet, even on a
            # checkpoint it keeps (the race was on one it had chosen to drop, between its
            # statements: only a lock on every cosignature closes it).
            for size in (witnessed, victim):
                with pytest.raises(errors.LockNotAvailable):
                    witness.execute(insert, (tenant, size))
                witness.rollback()
        # Committed: the checkpoint it was for is gone, and its cosignature is refused
        # (the service logs it), not stored and then silently deleted.
        assert victim not in _stored(database_url, tenant)
        with pytest.raises(errors.ForeignKeyViolation):
            witness.execute(insert, (tenant, victim))
        witness.rollback()
        # On a checkpoint the pass kept, it is stored.
        witness.execute(insert, (tenant, witnessed))
        witness.commit()
    with _as_service(database_url) as conn:
        assert _thin(conn, tenant, everything, at)[0] == 0


def test_the_rule_cannot_be_called_without_the_lock(database_url: str, tenant: str) -> None:
    points = _spread(_database_now(database_url) - timedelta(seconds=1))
    _store(database_url, tenant, points)
    with _as_service(database_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(
            "SELECT thin_checkpoints_by_the_rule(%s, %s, now())",
            (tenant, [p.tree_size for p in points]),
        )


def test_two_passes_at_once_take_turns_without_a_deadlock(database_url: str) -> None:
    """Two replicas' passes: one holds the lock (its transaction open, having thinned
    nothing yet) while the other waits for it; when the first then deletes, the second must
    not hold a lock that the first's DELETE waits for (with a SHARE lock it did: deadlock)."""
    first, second = (f"thin-{uuid.uuid4().hex[:10]}" for _ in range(2))
    at = _database_now(database_url) - timedelta(seconds=1)
    points = _spread(at)
    for tenant in (first, second):
        _store(database_url, tenant, points)
    everything = [p.tree_size for p in points]
    kept = retained(points, points[-1].issued_at)
    with _as_service(database_url) as one, _as_service(database_url) as other:
        # (The connection opens a transaction at its first statement; committed below.)
        one.execute("SELECT thin_checkpoints(%s, %s, %s)", (first, [], at))
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(_thin, other, second, everything, points[-1].issued_at)
            _until_waiting_on_a_lock(database_url, other.info.backend_pid)
            one.execute(
                "SELECT thin_checkpoints(%s, %s, %s)", (first, everything, points[-1].issued_at)
            )
            one.commit()
            gone, _ = waiting.result(timeout=30)
    assert gone == len(points) - len(kept)
    assert _stored(database_url, first) == _stored(database_url, second) == kept


def _until_waiting_on_a_lock(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            if row is not None and row[0] == "Lock":
                return
            sleep(0.05)
    raise AssertionError("the second pass never waited for the first")
