"""A read whose journal row cannot be written is refused, never served unjournaled (R13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import UnavailableError
from tests.support import ServerProcess, token_of

from ..helpers import propose_kwargs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_database(new_database: Callable[..., str]) -> str:
    return new_database()


@pytest.fixture(scope="module")
def server_of_own(
    own_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    process = ServerProcess.start(own_database, tmp_path_factory.mktemp("journal-closed"))
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def test_a_read_is_refused_when_its_row_cannot_be_written_R13(
    own_database: str, server_of_own: ServerProcess
) -> None:
    with (
        Client(server_of_own.address, token_of("app-a"), timeout=20) as app,
        Client(server_of_own.address, token_of("insp-a"), timeout=20) as inspector,
    ):
        decision = app.propose(**propose_kwargs("voirie.signalement")).decision
        assert app.get_decision(decision.id).id == decision.id
        with psycopg.connect(own_database, autocommit=True) as owner:
            owner.execute("REVOKE INSERT ON aval.access_journal FROM aval_service")
        for read in (
            lambda: app.get_decision(decision.id),
            lambda: inspector.explain_decision(decision.id),
            lambda: inspector.query_events(decision_id=decision.id),
            lambda: list(inspector.export_events(decision_id=decision.id)),
        ):
            with pytest.raises(UnavailableError) as refused:
                read()
            assert refused.value.reason == "ACCESS_JOURNAL_UNAVAILABLE"
        with psycopg.connect(own_database, autocommit=True) as owner:
            owner.execute("GRANT INSERT ON aval.access_journal TO aval_service")
        assert app.get_decision(decision.id).id == decision.id
