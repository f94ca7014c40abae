"""A verdict binds to what the reviewer was shown (issue 17, item 4): `seen_version`.

Through the real server: a verdict or claim made on a stale view is refused with CASE_CHANGED
and writes nothing; the current version, the reviewer's own claims and an absent version are
accepted; of two concurrent verdicts on the same view, one wins; the CLI shows and sends it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, FailedPreconditionError
from aval.v1 import common_pb2
from tests.support import ClockFile, ServerProcess

from ..helpers import EXPIRED, PENDING, propose_kwargs, run_cli, wait_until
from .conftest import LEASE, refused, written

pytestmark = pytest.mark.e2e

TWO = "aides.attribution"  # two approvals: a first verdict leaves the case pending


def _stale(
    database_url: str, attempt: Callable[[], Any], seen: int, current: int
) -> FailedPreconditionError:
    """Asserts `attempt` is refused with CASE_CHANGED naming both versions, writing nothing."""
    before = written(database_url)
    error = refused(FailedPreconditionError, attempt)
    assert error.reason == "CASE_CHANGED", error
    assert f"version vue : {seen}" in error.localized
    assert f"version actuelle : {current}" in error.localized
    assert "affichez-la de nouveau" in error.localized
    assert written(database_url) == before
    assert isinstance(error, FailedPreconditionError)  # for the type checker
    return error


def _unchanged(client: Client, d: common_pb2.Decision, version: int, reviews: int) -> None:
    now = client.get_decision(d.id)
    assert (now.version, len(now.reviews), now.state) == (version, reviews, PENDING)


def test_a_verdict_on_a_view_older_than_another_reviewers_verdict_is_refused(
    as_: Callable[[str], Client], database_url: str
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs(TWO)).decision
    seen = sup2.get_decision(d.id).version
    after = sup1.decide(d.id, verdict="approve", seen_version=seen)
    assert after.version == seen + 1 and after.state == PENDING
    _stale(
        database_url,
        lambda: sup2.decide(d.id, verdict="approve", seen_version=seen),
        seen,
        seen + 1,
    )
    _unchanged(sup2, d, seen + 1, 1)
    # Shown again, the case is accepted at its current version.
    final = sup2.decide(d.id, verdict="approve", seen_version=sup2.get_decision(d.id).version)
    assert final.state != PENDING and len(final.reviews) == 2


def test_a_verdict_on_a_view_older_than_an_amendment_is_refused(
    as_: Callable[[str], Client], database_url: str
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs(TWO)).decision
    seen = d.version
    sup1.decide(
        d.id,
        verdict="amend",
        amended_output={"accord": False},
        justification="plafond dépassé",
        seen_version=seen,
    )
    _stale(
        database_url,
        lambda: sup2.decide(d.id, verdict="approve", seen_version=seen),
        seen,
        seen + 1,
    )
    _unchanged(sup2, d, seen + 1, 1)


def test_a_view_older_than_someone_elses_claim_is_refused_even_after_it_ended(
    as_: Callable[[str], Client], database_url: str, server_clock: ClockFile
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs(TWO)).decision
    seen = sup2.get_decision(d.id).version
    sup1.claim(d.id, lease_seconds=LEASE, seen_version=seen)
    server_clock.advance(LEASE + 0.5)  # the claim has ended; the view is still stale
    _stale(
        database_url,
        lambda: sup2.decide(d.id, verdict="approve", seen_version=seen),
        seen,
        seen + 1,
    )
    _stale(database_url, lambda: sup2.claim(d.id, seen_version=seen), seen, seen + 1)
    _unchanged(sup2, d, seen + 1, 0)


def test_a_view_older_than_an_expiry_is_refused(
    as_: Callable[[str], Client], database_url: str, server_clock: ClockFile
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("express.test")).decision  # a deadline of 2 s
    seen = sup1.get_decision(d.id).version
    server_clock.advance(3)
    wait_until(lambda: sup1.get_decision(d.id).state == EXPIRED, 20, "the sweeper expired it")
    _stale(
        database_url,
        lambda: sup1.decide(d.id, verdict="approve", seen_version=seen),
        seen,
        seen + 1,
    )


def test_the_reviewers_own_claims_and_the_current_version_are_accepted(
    as_: Callable[[str], Client], database_url: str
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs(TWO)).decision
    seen = sup1.get_decision(d.id).version
    sup1.claim(d.id, seen_version=seen)
    renewed = sup1.claim(d.id, seen_version=seen)  # a renewal is their own claim too
    assert renewed.version == seen + 2
    decided = sup1.decide(d.id, verdict="approve", seen_version=seen)
    assert decided.version == seen + 3 and len(decided.reviews) == 1
    # A version the case never had is no view of it.
    _stale(
        database_url,
        lambda: as_("sup-a2").decide(d.id, verdict="approve", seen_version=seen + 99),
        seen + 99,
        seen + 3,
    )


def test_without_a_seen_version_a_verdict_binds_to_nothing(as_: Callable[[str], Client]) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs(TWO)).decision
    sup1.decide(d.id, verdict="approve")
    assert sup2.decide(d.id, verdict="approve").state != PENDING


def _race(reviewers: list[Client], d: common_pb2.Decision) -> list[Any]:
    """The answers of verdicts given at once by `reviewers` on version `d.version` of `d`."""
    start = threading.Barrier(len(reviewers))
    results: list[common_pb2.Decision | AvalError] = []

    def verdict(client: Client) -> None:
        start.wait()
        try:
            results.append(client.decide(d.id, verdict="approve", seen_version=d.version))
        except AvalError as error:
            results.append(error)

    threads = [threading.Thread(target=verdict, args=(c,)) for c in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_of_two_concurrent_verdicts_on_the_same_view_one_wins(
    as_: Callable[[str], Client],
) -> None:
    app = as_("app-a")
    for _ in range(4):
        d = app.propose(**propose_kwargs(TWO)).decision
        results = _race([as_("sup-a1"), as_("sup-a2")], d)
        errors = [r for r in results if isinstance(r, AvalError)]
        assert len(results) == 2 and len(errors) == 1, results
        assert isinstance(errors[0], FailedPreconditionError)
        assert errors[0].reason == "CASE_CHANGED"
        _unchanged(app, d, d.version + 1, 1)


def _version_shown(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("Version")).split()[-1]


def test_the_cli_shows_the_version_and_binds_the_verdict_to_it(
    as_: Callable[[str], Client], hostile: ServerProcess
) -> None:
    app, sup2 = as_("app-a"), as_("sup-a2")
    d = app.propose(**propose_kwargs(TWO)).decision
    shown = run_cli(hostile.address, "sup-a1", "decision", "show", d.id)
    assert shown.returncode == 0, shown.stderr
    seen = _version_shown(shown.stdout)
    assert seen == str(d.version)
    sup2.decide(d.id, verdict="approve")
    stale = run_cli(hostile.address, "sup-a1", "decide", d.id, "--approve", "--seen-version", seen)
    assert stale.returncode != 0 and stale.stdout == ""
    assert "a changé depuis que vous l'avez vue" in stale.stderr
    assert "affichez-la de nouveau" in stale.stderr
    current = str(d.version + 1)
    done = run_cli(
        hostile.address, "sup-a1", "decide", d.id, "--approve", "--seen-version", current
    )
    assert done.returncode == 0, done.stderr
    assert _version_shown(done.stdout) == str(d.version + 2)
    helped = run_cli(hostile.address, None, "decide", "--help")
    assert "--seen-version" in helped.stdout and "version de la décision" in helped.stdout
