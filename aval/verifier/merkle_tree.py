"""RFC 9162 Merkle trees: leaf and node hashes, compact frontiers and roots."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""The Merkle tree hash of the empty tree (RFC 9162 section 2.1.1)."""

_SIZE_BYTES = 8


class MalformedHash(ValueError):
    """A hash given to a tree or proof function is not a 32-byte SHA-256 digest."""


def require_hash(name: str, value: bytes) -> None:
    """Raises `MalformedHash`, naming `name`, unless `value` is 32 bytes long.

    A proof checked with a hash of another length could only ever fail or, worse, compare
    truncated or padded values: the caller is told its input is malformed instead.
    """
    if len(value) != HASH_SIZE:
        raise MalformedHash(
            f"{name} must be a {HASH_SIZE}-byte SHA-256 hash, got {len(value)} bytes"
        )


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
        for i, h in enumerate(hashes):
            require_hash(f"subtree hash {i}", h)
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
            MalformedHash: When ``leaf`` is not a 32-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            require_hash("leaf hash", leaf)
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
            MalformedHash: When a leaf is not a 32-byte hash.
        """
        for i, leaf in enumerate(leaves):
            require_hash(f"leaf hash {i}", leaf)
        self.extend_packed(b"".join(leaves))

    def extend_packed(self, packed: bytes) -> None:
        """``extend`` with the leaves' hashes given end to end, 32 bytes each.

        Raises:
            MalformedHash: When the length is not a multiple of 32 bytes.
        """
        if len(packed) % HASH_SIZE:
            raise MalformedHash(f"leaf hashes are {HASH_SIZE} bytes each")
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
