"""Merkle Tree Hash and inclusion proofs of RFC 9162 (Certificate Transparency 2.0), SHA-256.

Written from the RFC rather than taken from a library: the Python Merkle
libraries either use another tree shape (odd leaves duplicated, sorted pairs)
or another proof format (pymerkle's proofs carry the leaf hash and direction
bits, not the RFC's audit path, and recompute subtrees per proof), and an
auditor must be able to check a proof with nothing but the RFC.

* §2.1.1 ``MTH({}) = SHA-256()``; ``MTH({d0}) = SHA-256(0x00 || d0)``; for n > 1,
  with k the largest power of two smaller than n,
  ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.
* §2.1.3.1 the audit path ``PATH(m, D[n])``: the sibling hashes from the leaf
  up to the root, nearest first.
* §2.1.3.2 verification: rebuild the root from the leaf hash, its index, the
  tree size and the path.

Every node of this tree covers leaves ``[i * 2^j, min((i + 1) * 2^j, n))``. So
the hash of an aligned block of ``CHUNK_LEAVES`` leaves (a *chunk root*) is a
node of every tree that contains the whole block, and the Merkle Tree Hash over
chunk roots (treated as leaf hashes) equals the Merkle Tree Hash over the
leaves. A seal keeps its chunk roots: a proof then needs one chunk's leaf
hashes and O(n / CHUNK_LEAVES) hashes of 32 bytes, never the whole seal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: Leaves per chunk: a power of two (see the module docstring).
CHUNK_LEAVES = 256

_sha256 = hashlib.sha256


def empty_root() -> bytes:
    """MTH of the empty tree: the hash of the empty string."""
    return _sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves given by their leaf hashes (or over aligned chunk roots).

    Bottom-up, pairing left to right and carrying an odd last node up unchanged:
    the same tree as the RFC's recursive split (the left subtree is always the
    largest complete one), without recursion, about one hash per node.
    """
    if not hashes:
        return empty_root()
    level = list(hashes)
    sha, prefix = _sha256, NODE_PREFIX
    while len(level) > 1:
        paired = [
            sha(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def audit_path(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """``PATH(index, D[size])`` of RFC 9162 §2.1.3.1, nearest sibling first.

    ``subtree(start, end)`` returns MTH of leaves ``[start, end)``; it is only
    asked for nodes of the tree (see the module docstring), O(log size) of them.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start = start + k
    path.reverse()
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` proves for the leaf hash ``leaf`` at ``index`` of a
    tree of ``size`` leaves, per RFC 9162 §2.1.3.2; None when the path cannot be
    an audit path of that position (wrong length)."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True when ``path`` proves the leaf hash ``leaf`` at ``index`` under ``root``."""
    return root_from_path(leaf, index, size, path) == root


class ChunkedTree:
    """The tree of one seal, known by its chunk roots and the leaf hashes of one
    chunk: enough to answer every ``subtree`` an audit path of a leaf in that
    chunk asks for."""

    def __init__(
        self, size: int, chunk_roots: Sequence[bytes], chunk: int, leaves: Sequence[bytes]
    ):
        self.size = size
        self.chunk_roots = chunk_roots
        self.chunk = chunk
        self.leaves = leaves

    def subtree(self, start: int, end: int) -> bytes:
        if end - start <= CHUNK_LEAVES and start // CHUNK_LEAVES == self.chunk:
            base = self.chunk * CHUNK_LEAVES
            return root_of(self.leaves[start - base : end - base])
        if start % CHUNK_LEAVES or (end % CHUNK_LEAVES and end != self.size):
            raise ValueError(f"[{start}, {end}) is not a node above the chunks")
        first = start // CHUNK_LEAVES
        last = -(-end // CHUNK_LEAVES)
        return root_of(self.chunk_roots[first:last])

    def path(self, index: int) -> list[bytes]:
        return audit_path(index, self.size, self.subtree)


def chunk_roots(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The roots of the aligned chunks of ``leaf_hashes`` (the last may be partial)."""
    return [
        root_of(leaf_hashes[i : i + CHUNK_LEAVES]) for i in range(0, len(leaf_hashes), CHUNK_LEAVES)
    ]


def split_hashes(blob: bytes) -> list[bytes]:
    """Concatenated 32-byte hashes, one by one."""
    if len(blob) % 32:
        raise ValueError("a hash list must be a multiple of 32 bytes")
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]
