"""RFC 9162 Merkle trees over a tenant's events: roots, compact frontiers, and their proofs.

The hashes, frontiers and roots live in `merkle_tree`; they are named here too, so that one
module gives the whole tree.
"""

from __future__ import annotations

from collections.abc import Sequence

from aval.verifier.merkle_tree import EMPTY_ROOT as EMPTY_ROOT
from aval.verifier.merkle_tree import HASH_SIZE as HASH_SIZE
from aval.verifier.merkle_tree import Frontier as Frontier
from aval.verifier.merkle_tree import MalformedHash as MalformedHash
from aval.verifier.merkle_tree import leaf_hash as leaf_hash
from aval.verifier.merkle_tree import node_hash as node_hash
from aval.verifier.merkle_tree import require_hash
from aval.verifier.merkle_tree import root as root


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (for ``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


LeafRange = tuple[int, int]
"""Leaves ``[start, end)`` of a tree, by 0-based index."""


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """The leaf ranges whose roots make up the inclusion proof (PATH) of one leaf.

    They are disjoint and, with the leaf itself, cover the tree; so a proof can be computed by
    streaming the leaves once (see ``RangeRoots``) without holding them all in memory.

    Args:
        index: The 0-based index of the leaf.
        size: The size of the tree.

    Returns:
        The ranges, in proof order (from the leaf up).

    Raises:
        ValueError: When ``index`` is not a leaf of the tree.
        MalformedHash: When a leaf hash is not 32 bytes.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    ranges: list[LeafRange] = []
    lo, hi = 0, size
    while hi - lo > 1:
        middle = lo + _split(hi - lo)
        if index < middle:
            ranges.append((middle, hi))
            hi = middle
        else:
            ranges.append((lo, middle))
            lo = middle
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, size: int) -> list[LeafRange]:
    """The leaf ranges whose roots make up the consistency proof (PROOF) of two sizes.

    They are disjoint, like those of ``inclusion_ranges``.

    Args:
        old_size: The size of the older tree.
        size: The size of the newer tree.

    Returns:
        The ranges, in proof order; none when ``old_size`` is 0 or ``size``.

    Raises:
        ValueError: When ``old_size`` is negative or larger than ``size``.
    """
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside 0..{size}")
    if old_size in (0, size):
        return []
    ranges: list[LeafRange] = []
    lo, hi, m, whole = 0, size, old_size, True
    while m != hi - lo:
        middle = lo + _split(hi - lo)
        if m <= middle - lo:
            ranges.append((middle, hi))
            hi = middle
        else:
            ranges.append((lo, middle))
            m -= middle - lo
            lo = middle
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


class RangeRoots:
    """Computes the roots of disjoint leaf ranges from the leaves streamed once, in order.

    Memory stays logarithmic in the tree's size: only one frontier per range is kept.

    Attributes:
        needed: How many leaves must be streamed: the end of the last range.
        seen: How many leaves were streamed so far.
    """

    def __init__(self, ranges: Sequence[LeafRange]) -> None:
        """Prepares the ranges.

        Args:
            ranges: Disjoint, non-empty ``[start, end)`` ranges, in any order.

        Raises:
            ValueError: When ranges are empty or overlap.
        """
        self._ranges = list(ranges)
        self._frontiers = [Frontier() for _ in self._ranges]
        # The ranges still to come, the leftmost last (popped as the leaves go past them).
        self._pending = sorted(range(len(self._ranges)), key=lambda i: -self._ranges[i][0])
        self.needed = 0
        for i in reversed(self._pending):
            start, end = self._ranges[i]
            if not self.needed <= start < end:
                raise ValueError(f"leaf ranges must be disjoint and non-empty: {self._ranges}")
            self.needed = end
        self.seen = 0

    def add(self, leaf: bytes) -> None:
        """Takes the next leaf hash (index ``seen``); leaves outside every range are skipped.

        Args:
            leaf: The leaf's HASH.
        """
        if len(leaf) != HASH_SIZE:
            require_hash(f"leaf hash {self.seen}", leaf)
        position = self.seen
        self.seen += 1
        pending = self._pending
        while pending and self._ranges[pending[-1]][1] <= position:
            pending.pop()
        if pending and self._ranges[pending[-1]][0] <= position:
            self._frontiers[pending[-1]].append(leaf)

    def roots(self) -> list[bytes]:
        """The roots of the ranges, in the order they were given.

        Raises:
            ValueError: When fewer leaves than ``needed`` were streamed.
        """
        if self.seen < self.needed:
            raise ValueError(f"{self.needed} leaves are needed, {self.seen} were given")
        return [frontier.root() for frontier in self._frontiers]


def _proof_of(ranges: Sequence[LeafRange], leaves: Sequence[bytes]) -> list[bytes]:
    hasher = RangeRoots(ranges)
    for i in range(hasher.needed):
        hasher.add(leaves[i])
    return hasher.roots()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The RFC 9162 inclusion proof (PATH) of one leaf, from the leaf up.

    Args:
        index: The 0-based index of the leaf.
        leaves: The leaf HASHES of the whole tree the proof is for.

    Returns:
        The audit path: sibling subtree hashes, the lowest first.

    Raises:
        ValueError: When ``index`` is not a leaf of the tree.
        MalformedHash: When a leaf hash is not 32 bytes.
    """
    return _proof_of(inclusion_ranges(index, len(leaves)), leaves)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Checks an inclusion proof (RFC 9162 section 2.1.3.2).

    Args:
        leaf: The leaf's HASH (``leaf_hash`` of its data).
        index: The 0-based index of the leaf.
        size: The size of the tree the root is for.
        proof: The audit path, from the leaf up.
        root: The expected root of the tree of ``size`` leaves.

    Returns:
        True when the proof recomputes ``root`` from ``leaf`` at ``index``.

    Raises:
        MalformedHash: When the leaf, the root or a hash of the proof is not 32 bytes.
    """
    _require_hashes(("leaf", leaf), ("root", root), *_named("proof", proof))
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _named(name: str, hashes: Sequence[bytes]) -> list[tuple[str, bytes]]:
    return [(f"{name}[{i}]", h) for i, h in enumerate(hashes)]


def _require_hashes(*named: tuple[str, bytes]) -> None:
    for name, value in named:
        require_hash(name, value)


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The RFC 9162 consistency proof (PROOF) between a tree and one of its prefixes.

    Args:
        old_size: The size of the older tree (a prefix of ``leaves``).
        leaves: The leaf HASHES of the newer tree.

    Returns:
        The proof; empty when ``old_size`` is 0 or the whole tree.

    Raises:
        ValueError: When ``old_size`` is negative or larger than the tree.
        MalformedHash: When a leaf hash is not 32 bytes.
    """
    return _proof_of(consistency_ranges(old_size, len(leaves)), leaves)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Checks a consistency proof (RFC 9162 section 2.1.4.2).

    A tree of size 0 is a prefix of every tree (its root must be ``EMPTY_ROOT``) and a tree is
    consistent with itself (equal roots); both take an empty proof.

    Args:
        old_size: The size of the older tree.
        new_size: The size of the newer tree.
        old_root: The older tree's root.
        new_root: The newer tree's root.
        proof: The consistency proof.

    Returns:
        True when the proof shows that the newer tree only appended to the older one.

    Raises:
        MalformedHash: When a root or a hash of the proof is not 32 bytes.
    """
    _require_hashes(("old root", old_root), ("new root", new_root), *_named("proof", proof))
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old tree is a complete subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
