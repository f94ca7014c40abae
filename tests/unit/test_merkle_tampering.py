"""Tampered inclusion and consistency proofs, and rewritten histories, are rejected."""

from __future__ import annotations

import pytest

from aval.verifier import merkle

from .rfc9162 import LEAVES, SOME_HASH


def _malformed(*hashes: bytes) -> bool:
    """Whether a hash of the case is not 32 bytes: refused with MalformedHash, not False."""
    return any(len(h) != merkle.HASH_SIZE for h in hashes)


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
            if _malformed(leaf, r, *p):
                with pytest.raises(merkle.MalformedHash):
                    merkle.verify_inclusion(leaf, i, n, p, r)
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
            if _malformed(r1, r2, *p):
                with pytest.raises(merkle.MalformedHash):
                    merkle.verify_consistency(m, n, r1, r2, p)
                continue
            assert not merkle.verify_consistency(m, n, r1, r2, p), (size, old, name)


def test_a_rewritten_history_is_not_consistent() -> None:
    honest = LEAVES[:20]
    rewritten = [*LEAVES[:7], merkle.leaf_hash(b"edited"), *LEAVES[8:20]]
    old_root = merkle.root(honest[:10])
    forged = merkle.consistency_proof(10, rewritten)
    assert not merkle.verify_consistency(10, 20, old_root, merkle.root(rewritten), forged)
