"""The Merkle tree against RFC 9162's own definitions, written again here, and known vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aval.verifier import merkle

from .rfc9162 import (
    CT_CONSISTENCY,
    CT_DATA,
    CT_INCLUSION,
    CT_ROOTS,
    DATA,
    LEAVES,
    SIZES,
    SOME_HASH,
    _hashes,
    _leaves,
    mth,
    path,
    proof,
)


def test_the_empty_tree_is_the_hash_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.Frontier().root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_roots_match_rfc6962_test_data(size: int) -> None:
    assert merkle.root(_leaves(CT_DATA[:size])).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "letters"), CT_INCLUSION)
def test_inclusion_proofs_match_rfc6962_test_data(index: int, size: int, letters: str) -> None:
    leaves = _leaves(CT_DATA[:size])
    assert merkle.inclusion_proof(index, leaves) == _hashes(letters)
    root = bytes.fromhex(CT_ROOTS[size])
    assert merkle.verify_inclusion(leaves[index], index, size, _hashes(letters), root)


@pytest.mark.parametrize(("old", "new", "letters"), CT_CONSISTENCY)
def test_consistency_proofs_match_rfc6962_test_data(old: int, new: int, letters: str) -> None:
    assert merkle.consistency_proof(old, _leaves(CT_DATA[:new])) == _hashes(letters)
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert merkle.verify_consistency(old, new, old_root, new_root, _hashes(letters))


def test_root_and_frontier_equal_mth_at_every_size() -> None:
    frontier = merkle.Frontier()
    assert frontier.root() == mth([])
    for n in SIZES:
        frontier.append(LEAVES[n - 1])
        expected = mth(DATA[:n])
        assert frontier.size == n
        assert frontier.root() == expected
        assert merkle.root(LEAVES[:n]) == expected
        assert len(frontier.hashes) == n.bit_count()
        assert merkle.Frontier.from_bytes(frontier.to_bytes()) == frontier
        assert merkle.Frontier.from_bytes(frontier.to_bytes()).root() == expected


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_equal_path_for_every_index(size: int) -> None:
    data, leaves = DATA[:size], LEAVES[:size]
    root = mth(data)
    for index in range(size):
        audit_path = merkle.inclusion_proof(index, leaves)
        assert audit_path == path(index, data)
        assert merkle.verify_inclusion(leaves[index], index, size, audit_path, root)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proofs_equal_proof_for_every_old_size(size: int) -> None:
    data, leaves = DATA[:size], LEAVES[:size]
    new_root = mth(data)
    for old in range(1, size):
        consistency = merkle.consistency_proof(old, leaves)
        assert consistency == proof(old, data)
        assert merkle.verify_consistency(old, size, mth(data[:old]), new_root, consistency)


def test_trivial_consistency_needs_an_empty_proof() -> None:
    root = merkle.root(LEAVES[:5])
    assert merkle.consistency_proof(0, LEAVES[:5]) == []
    assert merkle.consistency_proof(5, LEAVES[:5]) == []
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    assert merkle.verify_consistency(5, 5, root, root, [])
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(0, 5, SOME_HASH, root, [])
    assert not merkle.verify_consistency(5, 5, root, SOME_HASH, [])
    assert not merkle.verify_consistency(5, 5, root, root, [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(6, 5, root, root, [])
    assert not merkle.verify_consistency(-1, 5, root, root, [])


def test_out_of_range_requests_are_refused() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(-1, LEAVES[:3])
    with pytest.raises(ValueError):
        merkle.consistency_proof(4, LEAVES[:3])
    assert not merkle.verify_inclusion(LEAVES[0], 0, 0, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_inclusion(LEAVES[0], -1, 1, [], LEAVES[0])


# --- The frontier as stored with a checkpoint. ---


def test_frontier_round_trips_and_resumes() -> None:
    frontier = merkle.Frontier()
    for leaf in LEAVES[:37]:
        frontier.append(leaf)
    raw = frontier.to_bytes()
    assert len(raw) == 8 + 32 * (37).bit_count()
    resumed = merkle.Frontier.from_bytes(raw)
    assert resumed == frontier
    for leaf in LEAVES[37:70]:
        resumed.append(leaf)
    assert resumed.root() == mth(DATA[:70])


def test_frontier_refuses_malformed_input() -> None:
    with pytest.raises(ValueError):
        merkle.Frontier(3, [merkle.EMPTY_ROOT])
    with pytest.raises(ValueError):
        merkle.Frontier(1, [b"short"])
    with pytest.raises(ValueError):
        merkle.Frontier(-1)
    with pytest.raises(ValueError):
        merkle.Frontier.from_bytes(b"\x00")
    with pytest.raises(ValueError):
        merkle.Frontier.from_bytes((3).to_bytes(8, "big") + merkle.EMPTY_ROOT)
    with pytest.raises(ValueError):
        merkle.Frontier().append(b'{"canonical": "bytes"}')


# --- Random sizes, far past the exhaustive range. ---


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=600))
def test_random_trees_prove_and_verify(data: st.DataObject, size: int) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = [i.to_bytes(4, "big") for i in range(size)]
    root = merkle.root(leaves)
    assert root == mth(tree)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    audit_path = merkle.inclusion_proof(index, leaves)
    assert audit_path == path(index, tree)
    assert merkle.verify_inclusion(leaves[index], index, size, audit_path, root)
    other = data.draw(st.integers(min_value=0, max_value=size - 1), label="other index")
    if other != index:
        assert not merkle.verify_inclusion(leaves[index], other, size, audit_path, root)
    old = data.draw(st.integers(min_value=0, max_value=size), label="old size")
    consistency = merkle.consistency_proof(old, leaves)
    assert consistency == (proof(old, tree) if 0 < old < size else [])
    old_root = merkle.root(leaves[:old])
    assert merkle.verify_consistency(old, size, old_root, root, consistency)
    if 0 < old < size:
        assert not merkle.verify_consistency(old, size, old_root, SOME_HASH, consistency)


# --- Proofs streamed from disjoint leaf ranges (how the service reads the trail once). ---


@pytest.mark.parametrize("size", SIZES)
def test_proof_ranges_are_disjoint_and_cover_the_tree(size: int) -> None:
    for index in range(size):
        ranges = merkle.inclusion_ranges(index, size)
        covered = sorted(i for start, end in ranges for i in range(start, end))
        assert covered == [i for i in range(size) if i != index]
    for old in range(1, size):
        ranges = merkle.consistency_ranges(old, size)
        covered = sorted(i for start, end in ranges for i in range(start, end))
        assert len(covered) == len(set(covered)) and covered[-1] == size - 1
        hasher = merkle.RangeRoots(ranges)
        for leaf in LEAVES[:size]:
            hasher.add(leaf)
        assert hasher.roots() == proof(old, DATA[:size])


def test_several_proofs_share_one_pass_over_the_leaves() -> None:
    size = 45
    hashers = {i: merkle.RangeRoots(merkle.inclusion_ranges(i, size)) for i in (0, 7, 44)}
    for leaf in LEAVES[:size]:
        for hasher in hashers.values():
            hasher.add(leaf)
    for index, hasher in hashers.items():
        assert hasher.roots() == path(index, DATA[:size])


def test_range_roots_refuse_overlaps_and_missing_leaves() -> None:
    with pytest.raises(ValueError):
        merkle.RangeRoots([(0, 4), (3, 6)])
    with pytest.raises(ValueError):
        merkle.RangeRoots([(2, 2)])
    hasher = merkle.RangeRoots(merkle.inclusion_ranges(0, 8))
    for leaf in LEAVES[:5]:
        hasher.add(leaf)
    assert hasher.needed == 8 and hasher.seen == 5
    with pytest.raises(ValueError):
        hasher.roots()
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(9, 8)
