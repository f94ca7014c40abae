"""The Merkle tree against RFC 9162's own definitions, written again here, and known vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aval.verifier import merkle

# --- An independent implementation, straight from RFC 9162 section 2.1 (recursive, slices). ---


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf DATA (section 2.1.1)."""
    if not d:
        return _sha256(b"")
    if len(d) == 1:
        return _sha256(b"\x00" + d[0])
    k = _k(len(d))
    return _sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (section 2.1.3.1)."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (section 2.1.4.1)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (section 2.1.4.1)."""
    return subproof(m, d, True)


def _data(n: int) -> list[bytes]:
    return [f"event {i}".encode() * (i % 3 + 1) for i in range(n)]


def _leaves(data: Sequence[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(x) for x in data]


# --- Known vectors: RFC 6962 test data as published by transparency-dev/merkle (testonly). ---

CT_DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
_H = {
    "a": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "b": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "c": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "d": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "e": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "f": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "g": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "h": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "i": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "j": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
# (0-based leaf index, tree size, audit path)
CT_INCLUSION = [(0, 8, "abc"), (5, 8, "def"), (2, 3, "g"), (1, 5, "hbd")]
# (old size, new size, proof)
CT_CONSISTENCY = [(1, 8, "abc"), (6, 8, "ief"), (2, 5, "bd"), (6, 7, "ijf")]


def _hashes(letters: str) -> list[bytes]:
    return [bytes.fromhex(_H[letter]) for letter in letters]


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


# --- Every shape up to 70 leaves, against the recursive definitions. ---

SIZES = range(1, 71)
DATA = _data(max(SIZES))
LEAVES = _leaves(DATA)


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


# --- Tampering is rejected. ---

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _inclusion_tamperings(
    index: int, size: int, audit_path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, bytes, int, int, list[bytes], bytes]]:
    cases = [
        ("index - 1", leaf, index - 1, size, audit_path, root),
        ("index + 1", leaf, index + 1, size, audit_path, root),
        ("index ^ 2", leaf, index ^ 2, size, audit_path, root),
        ("size * 2", leaf, index, size * 2, audit_path, root),
        ("size / 2", leaf, index, size // 2, audit_path, root),
        ("wrong leaf", merkle.leaf_hash(b"forged"), index, size, audit_path, root),
        ("short leaf", b"WrongLeaf", index, size, audit_path, root),
        ("empty root", leaf, index, size, audit_path, merkle.EMPTY_ROOT),
        ("random root", leaf, index, size, audit_path, SOME_HASH),
        ("trailing garbage", leaf, index, size, [*audit_path, b""], root),
        ("trailing root", leaf, index, size, [*audit_path, root], root),
        ("preceding garbage", leaf, index, size, [b"", *audit_path], root),
        ("preceding root", leaf, index, size, [root, *audit_path], root),
    ]
    for i in range(len(audit_path)):
        flipped = list(audit_path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        cases.append((f"flipped bit in path[{i}]", leaf, index, size, flipped, root))
    if audit_path:
        cases.append(("removed component", leaf, index, size, audit_path[:-1], root))
    if len(audit_path) > 1:
        inserted = [audit_path[0], SOME_HASH, *audit_path[1:]]
        cases.append(("inserted component", leaf, index, size, inserted, root))
    return cases


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 70])
def test_tampered_inclusion_proofs_are_rejected(size: int) -> None:
    leaves = LEAVES[:size]
    root = merkle.root(leaves)
    for index in range(size):
        audit_path = merkle.inclusion_proof(index, leaves)
        for name, leaf, i, n, p, r in _inclusion_tamperings(
            index, size, audit_path, root, leaves[index]
        ):
            # A different index can still be right when it names an identical leaf.
            if 0 <= i < size and n == size and r == root and p == audit_path and i != index:
                continue
            assert not merkle.verify_inclusion(leaf, i, n, p, r), (size, index, name)


def _consistency_tamperings(
    old: int, new: int, old_root: bytes, new_root: bytes, consistency: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    cases = [
        ("old - 1", old - 1, new, old_root, new_root, consistency),
        ("old + 1", old + 1, new, old_root, new_root, consistency),
        ("old ^ 2", old ^ 2, new, old_root, new_root, consistency),
        ("new * 2", old, new * 2, old_root, new_root, consistency),
        ("new / 2", old, new // 2, old_root, new_root, consistency),
        ("wrong old root", old, new, b"WrongRoot", new_root, consistency),
        ("wrong new root", old, new, old_root, b"WrongRoot", consistency),
        ("forged old root", old, new, SOME_HASH, new_root, consistency),
        ("swapped roots", old, new, new_root, old_root, consistency),
        ("empty proof", old, new, old_root, new_root, []),
        ("trailing garbage", old, new, old_root, new_root, [*consistency, b""]),
        ("trailing old root", old, new, old_root, new_root, [*consistency, old_root]),
        ("trailing new root", old, new, old_root, new_root, [*consistency, new_root]),
        ("preceding garbage", old, new, old_root, new_root, [b"", *consistency]),
        ("preceding old root", old, new, old_root, new_root, [old_root, *consistency]),
        ("preceding new root", old, new, old_root, new_root, [new_root, *consistency]),
        ("preceding proof[0]", old, new, old_root, new_root, [consistency[0], *consistency]),
        ("truncated", old, new, old_root, new_root, consistency[:-1]),
    ]
    for i in range(len(consistency)):
        flipped = list(consistency)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        cases.append((f"flipped bit in proof[{i}]", old, new, old_root, new_root, flipped))
    return cases


@pytest.mark.parametrize("size", [2, 3, 5, 8, 13, 64, 70])
def test_tampered_consistency_proofs_are_rejected(size: int) -> None:
    leaves = LEAVES[:size]
    new_root = merkle.root(leaves)
    for old in range(1, size):
        old_root = merkle.root(leaves[:old])
        consistency = merkle.consistency_proof(old, leaves)
        for name, m, n, r1, r2, p in _consistency_tamperings(
            old, size, old_root, new_root, consistency
        ):
            assert not merkle.verify_consistency(m, n, r1, r2, p), (size, old, name)


def test_a_rewritten_history_is_not_consistent() -> None:
    honest = LEAVES[:20]
    rewritten = [*LEAVES[:7], merkle.leaf_hash(b"edited"), *LEAVES[8:20]]
    old_root = merkle.root(honest[:10])
    forged = merkle.consistency_proof(10, rewritten)
    assert not merkle.verify_consistency(10, 20, old_root, merkle.root(rewritten), forged)


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
