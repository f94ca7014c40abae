"""Every proof function refuses hashes that are not 32 bytes with a clear error (issue 12)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aval.verifier import merkle

from .rfc9162 import LEAVES

SHORT, LONG = bytes(31), bytes(33)
ROOT = merkle.root(LEAVES[:5])
PATH = merkle.inclusion_proof(2, LEAVES[:5])
OLD_ROOT = merkle.root(LEAVES[:3])
CONSISTENCY = merkle.consistency_proof(3, LEAVES[:5])

CASES: dict[str, tuple[Callable[[], object], str]] = {
    "inclusion, short leaf": (lambda: merkle.verify_inclusion(SHORT, 2, 5, PATH, ROOT), "leaf"),
    "inclusion, long root": (lambda: merkle.verify_inclusion(LEAVES[2], 2, 5, PATH, LONG), "root"),
    "inclusion, empty root": (lambda: merkle.verify_inclusion(LEAVES[2], 2, 5, PATH, b""), "root"),
    "inclusion, short path hash": (
        lambda: merkle.verify_inclusion(LEAVES[2], 2, 5, [*PATH[:-1], SHORT], ROOT),
        f"proof[{len(PATH) - 1}]",
    ),
    "inclusion out of range, short leaf": (
        lambda: merkle.verify_inclusion(SHORT, 9, 5, PATH, ROOT),
        "leaf",
    ),
    "consistency, short old root": (
        lambda: merkle.verify_consistency(3, 5, SHORT, ROOT, CONSISTENCY),
        "old root",
    ),
    "consistency, long new root": (
        lambda: merkle.verify_consistency(3, 5, OLD_ROOT, LONG, CONSISTENCY),
        "new root",
    ),
    "consistency from the empty tree, short new root": (
        lambda: merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, SHORT, []),
        "new root",
    ),
    "consistency, long proof hash": (
        lambda: merkle.verify_consistency(3, 5, OLD_ROOT, ROOT, [LONG, *CONSISTENCY[1:]]),
        "proof[0]",
    ),
    "inclusion proof of short leaves": (
        lambda: merkle.inclusion_proof(0, [*LEAVES[:4], SHORT]),
        "leaf hash 4",
    ),
    "consistency proof of long leaves": (
        lambda: merkle.consistency_proof(2, [LONG, *LEAVES[1:4]]),
        "leaf hash 0",
    ),
    "root of a short leaf": (lambda: merkle.root([LEAVES[0], SHORT]), "leaf hash"),
    "frontier of a long subtree hash": (lambda: merkle.Frontier(1, [LONG]), "subtree hash 0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hash_of_the_wrong_length_is_refused_by_name(case: str) -> None:
    call, name = CASES[case]
    with pytest.raises(merkle.MalformedHash, match=r"32-byte SHA-256 hash") as raised:
        call()
    assert str(raised.value).startswith(name), raised.value


def test_malformed_hash_is_a_value_error_for_existing_callers() -> None:
    assert issubclass(merkle.MalformedHash, ValueError)


def test_well_formed_proofs_still_verify() -> None:
    assert merkle.verify_inclusion(LEAVES[2], 2, 5, PATH, ROOT)
    assert merkle.verify_consistency(3, 5, OLD_ROOT, ROOT, CONSISTENCY)
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOT, [])
