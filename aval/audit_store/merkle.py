"""RFC 9162 Merkle trees over a tenant's events: roots, compact frontiers, and their proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""The Merkle tree hash of the empty tree (RFC 9162 section 2.1.1)."""

_SIZE_BYTES = 8


def leaf_hash(data: bytes) -> bytes:
    """Hashes one leaf's data.

    Args:
        data: The leaf's bytes (for the trail, an event's canonical bytes).

    Returns:
        SHA-256(0x00 || data).
    """
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hashes an interior node from its two children.

    Args:
        left: The hash of the left subtree.
        right: The hash of the right subtree.

    Returns:
        SHA-256(0x01 || left || right).
    """
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The compact range [0, size): the roots of the perfect subtrees, left to right.

    A tree of ``size`` leaves is the concatenation of one perfect subtree per bit set in
    ``size``, largest first. Keeping only their roots is enough to append further leaves and to
    compute the tree's root, so a frontier can be stored with a checkpoint and extended later
    without reading the events it already covers.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Builds a frontier from its size and the roots of its perfect subtrees.

        Args:
            size: The number of leaves covered.
            hashes: One 32-byte hash per bit set in ``size``, the largest subtree first.

        Raises:
            ValueError: When the hashes do not match the size.
        """
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves needs {size.bit_count()} subtree hashes")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"subtree hashes must be {HASH_SIZE} bytes")
        self.size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The roots of the perfect subtrees, the largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Appends one leaf.

        Args:
            leaf: The leaf's HASH (as made by ``leaf_hash``), not its data.

        Raises:
            ValueError: When ``leaf`` is not a 32-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
        merged = bytes(leaf)
        size = self.size
        # Each trailing one bit of the old size is a subtree of the same height as the one
        # being carried: merge them, as a binary increment carries.
        while size & 1:
            merged = node_hash(self._hashes.pop(), merged)
            size >>= 1
        self._hashes.append(merged)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Appends many leaves; the same result as ``append`` of each, in far fewer steps.

        The leaves are cut into the largest perfect subtrees that start where the tree ends
        (aligned on their own size), and each is hashed level by level.

        Args:
            leaves: The leaves' HASHES, in order.

        Raises:
            ValueError: When a leaf is not a 32-byte hash.
        """
        if any(len(leaf) != HASH_SIZE for leaf in leaves):
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        self.extend_packed(b"".join(leaves))

    def extend_packed(self, packed: bytes) -> None:
        """``extend`` with the leaves' hashes given end to end, 32 bytes each.

        Raises:
            ValueError: When the length is not a multiple of 32 bytes.
        """
        if len(packed) % HASH_SIZE:
            raise ValueError(f"leaf hashes are {HASH_SIZE} bytes each")
        done, total = 0, len(packed) // HASH_SIZE
        while done < total:
            # The subtree's height: no more than the leaves left, and aligned on the tree's size.
            height = (total - done).bit_length() - 1
            if self.size:
                height = min(height, (self.size & -self.size).bit_length() - 1)
            width = 1 << height
            subtree = packed[done * HASH_SIZE : (done + width) * HASH_SIZE]
            self._append_subtree(_perfect_root(subtree), height)
            done += width

    def _append_subtree(self, subtree: bytes, height: int) -> None:
        """Appends the root of a perfect subtree of 2**height leaves (size % 2**height == 0)."""
        merged = subtree
        carry = self.size >> height
        while carry & 1:
            merged = node_hash(self._hashes.pop(), merged)
            carry >>= 1
        self._hashes.append(merged)
        self.size += 1 << height

    def root(self) -> bytes:
        """The RFC 9162 Merkle tree hash of the leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result

    def to_bytes(self) -> bytes:
        """Serialises the frontier: the size as 8 bytes big-endian, then the hashes."""
        return self.size.to_bytes(_SIZE_BYTES, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Frontier:
        """Reads a frontier written by ``to_bytes``.

        Args:
            raw: The serialised frontier.

        Returns:
            The frontier.

        Raises:
            ValueError: When the bytes are not a well-formed frontier.
        """
        if len(raw) < _SIZE_BYTES:
            raise ValueError("a serialised frontier starts with its 8-byte size")
        size = int.from_bytes(raw[:_SIZE_BYTES], "big")
        body = raw[_SIZE_BYTES:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self.size == other.size and self._hashes == other._hashes

    def __hash__(self) -> int:
        return hash((self.size, tuple(self._hashes)))

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, root={self.root().hex()})"


def _perfect_root(level: bytes) -> bytes:
    """The root of a perfect tree (a power of two leaf hashes, end to end), hashed one level
    at a time: two neighbours are already the 64 bytes their parent hashes."""
    sha256 = hashlib.sha256
    pair = 2 * HASH_SIZE
    while len(level) > HASH_SIZE:
        level = b"".join(
            [sha256(b"\x01" + level[i : i + pair]).digest() for i in range(0, len(level), pair)]
        )
    return level


def root(leaves: Iterable[bytes]) -> bytes:
    """The RFC 9162 Merkle tree hash (MTH) of a sequence of leaf hashes, streamed.

    Args:
        leaves: The leaf HASHES, in order.

    Returns:
        The tree's root hash (``EMPTY_ROOT`` when there are no leaves).
    """
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


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
    """
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
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


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The RFC 9162 consistency proof (PROOF) between a tree and one of its prefixes.

    Args:
        old_size: The size of the older tree (a prefix of ``leaves``).
        leaves: The leaf HASHES of the newer tree.

    Returns:
        The proof; empty when ``old_size`` is 0 or the whole tree.

    Raises:
        ValueError: When ``old_size`` is negative or larger than the tree.
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
    """
    if not 0 <= old_size <= new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and len(new_root) == HASH_SIZE
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
