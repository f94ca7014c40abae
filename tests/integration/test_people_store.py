"""The people directory on real PostgreSQL: upserts merge tenants and never move `last_seen`
back, lookups answer only in a tenant the person was seen in, the purge counts calendar
months, and the in-process directory writes a person once until their name changes or the
refresh interval passes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from aval.audit_store import Store, people
from aval.audit_store.people import Seen
from aval.service.clock import MovableClock
from aval.service.deployment import Deployment
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Principal
from aval.service.oidc import OidcPrincipal
from aval.service.people.directory import PeopleDirectory
from aval.service.people.resolving import resolve_people
from aval.service.requests.people import ResolvePeopleIn

T0 = datetime(2020, 3, 31, 12, 0, tzinfo=UTC)


def some_id() -> str:
    return f"oidc:idp-test:{uuid.uuid4()}"


async def row(store: Store, principal_id: str) -> tuple[str, list[str], datetime, datetime] | None:
    async with store.reading() as conn:
        cursor = await conn.execute(
            "SELECT display_name, tenants, first_seen, last_seen FROM people"
            " WHERE principal_id = %s",
            (principal_id,),
        )
        found = await cursor.fetchone()
    return None if found is None else (found[0], list(found[1]), found[2], found[3])


async def test_upserts_merge_tenants_and_never_move_last_seen_back(store: Store) -> None:
    pid = some_id()
    async with store.transaction() as conn:
        await people.upsert(conn, [Seen(pid, ("ville-b",), "Marie", T0)])
        await people.upsert(conn, [Seen(pid, ("ville-a",), "Marie D.", T0 + timedelta(hours=2))])
        await people.upsert(conn, [Seen(pid, ("ville-a",), "Marie D.", T0 + timedelta(hours=1))])
    assert await row(store, pid) == (
        "Marie D.",
        ["ville-a", "ville-b"],
        T0,
        T0 + timedelta(hours=2),
    )


async def test_a_lookup_answers_only_in_a_tenant_the_person_was_seen_in(store: Store) -> None:
    pid, other = some_id(), some_id()
    async with store.transaction() as conn:
        await people.upsert(conn, [Seen(pid, ("ville-a",), "Marie", T0)])
        assert await people.resolve(conn, "ville-a", [pid, other, "app-a"]) == {pid: "Marie"}
        assert await people.resolve(conn, "ville-b", [pid]) == {}


async def test_the_purge_counts_calendar_months(store: Store) -> None:
    kept, gone = some_id(), some_id()
    now = datetime(2021, 3, 31, 12, 0, tzinfo=UTC)  # 12 months before: 2020-03-31 12:00
    async with store.transaction() as conn:
        await people.upsert(conn, [Seen(kept, ("ville-a",), "K", T0 + timedelta(seconds=1))])
        await people.upsert(conn, [Seen(gone, ("ville-a",), "G", T0 - timedelta(seconds=1))])
    async with store.single_statement() as conn:
        assert await people.purge(conn, now=now, months=12) == 1
    assert await row(store, kept) is not None
    assert await row(store, gone) is None


async def test_the_database_refuses_a_name_over_the_bound(store: Store) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        async with store.transaction() as conn:
            await people.upsert(conn, [Seen(some_id(), ("ville-a",), "x" * 201, T0)])


def person(pid: str, name: str, tenants: tuple[str, ...] = ("ville-a",)) -> OidcPrincipal:
    roles = {t: frozenset({"supervisor"}) for t in tenants}
    return OidcPrincipal(
        id=pid,
        tenant=tenants[0] if tenants else "ville-a",
        roles=roles,
        display_name=name,
        issuer="idp-test",
        subject=pid,
    )


async def test_the_directory_writes_once_until_the_name_changes_or_the_hour_passes(
    store: Store,
) -> None:
    clock = MovableClock()
    directory = PeopleDirectory(store, clock, refresh_seconds=3600)
    pid = some_id()
    directory.seen(person(pid, "Marie"))
    await directory.flush()
    first = await row(store, pid)
    assert first is not None and first[0] == "Marie"
    clock.advance(1800)
    for _ in range(10):
        directory.seen(person(pid, "Marie"))
    await directory.flush()
    assert await row(store, pid) == first  # nothing written within the hour
    directory.seen(person(pid, "Marie Durand"))
    await directory.flush()
    renamed = await row(store, pid)
    assert renamed is not None and renamed[0] == "Marie Durand" and renamed[3] > first[3]
    clock.advance(3601)
    directory.seen(person(pid, "Marie Durand"))
    await directory.flush()
    later = await row(store, pid)
    assert later is not None and later[3] - renamed[3] >= timedelta(seconds=3600)
    directory.seen(person(pid, "Marie Durand", ("ville-a", "ville-b")))  # a new tenant: at once
    await directory.flush()
    widened = await row(store, pid)
    assert widened is not None and widened[1] == ["ville-a", "ville-b"]


async def test_a_person_with_roles_nowhere_is_not_written(store: Store) -> None:
    directory = PeopleDirectory(store, MovableClock())
    pid = some_id()
    directory.seen(person(pid, "Nobody", ()))
    await directory.flush()
    assert await row(store, pid) is None


async def test_names_of_the_principals_file_are_served_from_memory_in_their_tenant_only(
    deployment: Deployment,
) -> None:
    named = Principal("agent-nomme", "ville-a", {"ville-a": frozenset({"supervisor"})}, "Léa\u202e")
    asker = Principal("insp-test", "ville-a", {"ville-a": frozenset({"inspector"})})
    served = dataclasses.replace(
        deployment, authenticator=FileAuthenticator.of_tokens([(named, None)])
    )
    request = ResolvePeopleIn(ids=["agent-nomme", "agent-nomme", "inconnu"])
    assert await resolve_people(served, asker, request) == [("agent-nomme", "Léa\\u202e")]
    elsewhere = ResolvePeopleIn(tenant="ville-b", ids=["agent-nomme"])
    pooled = Principal(
        "insp-pool-test", "ville-a", {t: frozenset({"inspector"}) for t in ("ville-a", "ville-b")}
    )
    assert await resolve_people(served, pooled, elsewhere) == []
    async with deployment.store.reading() as conn:  # never stored
        assert await people.resolve(conn, "ville-a", ["agent-nomme"]) == {}
