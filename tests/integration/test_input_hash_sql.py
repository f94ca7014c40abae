"""PostgreSQL hashes a stored input exactly as this process does (`verify_registry.input_sha256`,
the service's `proposals.py` hash) whenever it hashes it at all (`verify_facts._INPUT_SHA256`):
verification takes its word for most inputs, so a spelling that differed would either hide an
edited input or accuse an untouched one (I3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import conninfo

from aval.audit_store import verify_facts
from aval.audit_store.verify_registry import input_sha256

_QUERY = f"SELECT {verify_facts._INPUT_SHA256}, s.input::text FROM (SELECT %s::jsonb AS input) AS s"

# Text PostgreSQL stores (no NUL), with what needs escaping and what orders keys differently.
_TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
) | st.sampled_from(['"', "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "é", "Z", "aa", "b", "€"])
_SCALARS = (
    _TEXT
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53), 0, -1])
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False, allow_infinity=False)
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3)
)


@pytest.fixture(scope="module")
def french_database(server_url: str) -> Iterator[str]:
    """A database whose text sorts as French does (ICU), where `ORDER BY` alone would put
    "Z" after "a" and "é" before "z": canonical JSON sorts keys by code point whatever the
    database's collation. Skipped on a server built without ICU."""
    name = f"aval_test_fr_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        try:
            admin.execute(
                f"CREATE DATABASE {name} LOCALE_PROVIDER icu ICU_LOCALE 'fr-FR'"
                " LOCALE 'C.UTF-8' TEMPLATE template0"
            )
        except psycopg.Error as exc:
            pytest.skip(f"this PostgreSQL cannot sort text as French (ICU): {exc}")
    yield conninfo.make_conninfo(server_url, dbname=name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _hashes(url: str, value: Any) -> tuple[str | None, str]:
    """(PostgreSQL's hash or None, this process's hash) of `value` stored as jsonb."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_QUERY, (json.dumps(value),)).fetchone()
    assert row is not None
    return row[0], input_sha256(row[1])


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"canal": "web", "dossier": 1},
        {"b": 1, "aa": 2},  # jsonb keeps shorter keys first; canonical JSON does not
        {"é": "x", "z": "y", "Z": "w", "€": "v"},
        {"texte": 'guillemet " barre \\ saut\nligne\ttab \x01 \x1f \x7f é € 𝄞'},
        {"n": -12, "zéro": 0, "grand": 2**53 - 1, "oui": True, "non": False, "rien": None},
    ],
)
def test_simple_inputs_are_hashed_by_postgresql_as_here(database_url: str, value: Any) -> None:
    ours, reference = _hashes(database_url, value)
    assert ours == reference


def test_keys_are_sorted_by_code_point_whatever_the_collation(french_database: str) -> None:
    value = {"a": 1, "Z": 2, "é": 3, "z": 4, "E": 5, "b": 6, "aa": 7}
    ours, reference = _hashes(french_database, value)
    assert ours == reference


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**53},
        {"x": 1.5},
        {"x": 1e20},
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        [1, 2],
        "texte",
    ],
)
def test_other_inputs_are_left_to_this_process(database_url: str, value: Any) -> None:
    ours, _ = _hashes(database_url, value)
    assert ours is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.dictionaries(_TEXT, _VALUES, max_size=6))
def test_whenever_postgresql_hashes_an_input_it_agrees(database_url: str, value: Any) -> None:
    ours, reference = _hashes(database_url, value)
    assert ours is None or ours == reference
