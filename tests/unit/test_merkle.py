"""RFC 9162 Merkle Tree Hash and audit paths (service/domain/merkle.py).

Checked against trees written out by hand for n = 0..8, against the RFC's
recursive definitions implemented here independently (recursion on the
largest power of two, the §2.1.3.2 verifier written separately), and every
proof of every leaf of trees up to 70 leaves (several chunks when the chunk
is made small).
"""

from __future__ import annotations

import hashlib

import pytest

from service.domain import merkle


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def L(d: bytes) -> bytes:
    return sha(b"\x00" + d)


def N(a: bytes, b: bytes) -> bytes:
    return sha(b"\x01" + a + b)


D = [bytes([i]) * (i + 1) for i in range(70)]

#: MTH of D[0:n], written out by hand from RFC 9162 §2.1.1.
BY_HAND = {
    0: sha(b""),
    1: L(D[0]),
    2: N(L(D[0]), L(D[1])),
    3: N(N(L(D[0]), L(D[1])), L(D[2])),
    4: N(N(L(D[0]), L(D[1])), N(L(D[2]), L(D[3]))),
    5: N(N(N(L(D[0]), L(D[1])), N(L(D[2]), L(D[3]))), L(D[4])),
    6: N(N(N(L(D[0]), L(D[1])), N(L(D[2]), L(D[3]))), N(L(D[4]), L(D[5]))),
    7: N(
        N(N(L(D[0]), L(D[1])), N(L(D[2]), L(D[3]))),
        N(N(L(D[4]), L(D[5])), L(D[6])),
    ),
    8: N(
        N(N(L(D[0]), L(D[1])), N(L(D[2]), L(D[3]))),
        N(N(L(D[4]), L(D[5])), N(L(D[6]), L(D[7]))),
    ),
}


def reference_mth(data: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, recursively, as written in the RFC."""
    n = len(data)
    if n == 0:
        return sha(b"")
    if n == 1:
        return L(data[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return N(reference_mth(data[:k]), reference_mth(data[k:]))


def reference_path(m: int, data: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), recursively."""
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*reference_path(m, data[:k]), reference_mth(data[k:])]
    return [*reference_path(m - k, data[k:]), reference_mth(data[:k])]


def reference_verify(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step, independent of the module."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, sha(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = sha(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def test_empty_tree_is_the_hash_of_the_empty_string() -> None:
    assert merkle.empty_root().hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root_of([]) == merkle.empty_root()


@pytest.mark.parametrize("n", sorted(BY_HAND))
def test_root_matches_trees_computed_by_hand(n: int) -> None:
    assert merkle.root_of([merkle.leaf_hash(d) for d in D[:n]]) == BY_HAND[n]
    assert reference_mth(D[:n]) == BY_HAND[n]


def test_prefixes_are_the_rfc_ones() -> None:
    assert merkle.leaf_hash(b"x") == sha(b"\x00x")
    assert merkle.node_hash(b"a", b"b") == sha(b"\x01ab")


@pytest.mark.parametrize("n", range(1, 71))
def test_every_audit_path_is_the_rfc_path_and_verifies(n: int) -> None:
    data = D[:n]
    hashes = [merkle.leaf_hash(d) for d in data]
    root = merkle.root_of(hashes)
    assert root == reference_mth(data)

    def subtree(start: int, end: int) -> bytes:
        return merkle.root_of(hashes[start:end])

    for m in range(n):
        path = merkle.audit_path(m, n, subtree)
        assert path == reference_path(m, data)
        assert reference_verify(data[m], m, n, path, root)
        assert merkle.verify_inclusion(hashes[m], m, n, path, root)
        # a wrong index, size, leaf or path does not verify
        assert not merkle.verify_inclusion(hashes[m], (m + 1) % n, n, path, root) or n == 1
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), m, n, path, root)
        assert not merkle.verify_inclusion(hashes[m], m, n, [*path, root], root)
        if path:
            assert not merkle.verify_inclusion(hashes[m], m, n, path[:-1], root)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 16, 17, 31, 33, 64, 70])
def test_chunked_tree_gives_the_same_paths(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle, "CHUNK_LEAVES", 4)
    data = D[:n]
    hashes = [merkle.leaf_hash(d) for d in data]
    chunks = merkle.chunk_roots(hashes)
    assert len(chunks) == -(-n // 4)
    assert merkle.root_of(chunks) == reference_mth(data)
    blob = merkle.split_hashes(b"".join(chunks))
    for m in range(n):
        c = m // 4
        tree = merkle.ChunkedTree(n, blob, c, hashes[c * 4 : c * 4 + 4])
        assert tree.path(m) == reference_path(m, data)


def test_audit_path_refuses_a_leaf_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="outside a tree"):
        merkle.audit_path(3, 3, lambda a, b: b"")
    assert merkle.root_from_path(b"", 0, 0, []) is None
