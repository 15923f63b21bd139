"""Merkle trees over anchored off-chain batches, as OpenZeppelin builds and checks them.

A batch (sensor readings, EPCIS documents, mirror digests) is a list of JSON items; the
Anchors contract stores the root of the tree over them, and an inclusion proof leads from
one item to that root.

Leaf encoding
    ``item_bytes`` is the item's canonical JSON: keys sorted, no whitespace
    (``separators=(",", ":")``), UTF-8 without ``\\u`` escapes for non-ASCII text; exactly
    the encoding :func:`contracts.chain.domain.canonical_hash` hashes, so
    ``keccak256(item_bytes) == canonical_hash(item)`` for a document. NaN and infinities
    are refused; prefer strings or integers to floats, whose text differs between JSON
    libraries. The leaf is ``keccak256(keccak256(item_bytes))``: hashing twice keeps a
    leaf (the hash of 32 bytes) from ever being mistaken for an internal node (the hash of
    64 bytes), the second-preimage guard of OpenZeppelin's StandardMerkleTree.

Internal nodes
    ``keccak256(min(a, b) || max(a, b))``: the pair is sorted before hashing, so a proof
    is just the list of siblings and OpenZeppelin's ``MerkleProof.verify(proof, root,
    leaf)`` accepts it on chain. The price of commutative hashing is that a proof shows an
    item is *in* the batch, not at which position.

Tree shape
    OpenZeppelin's ``@openzeppelin/merkle-tree`` layout: a complete binary tree kept in an
    array of ``2n - 1`` nodes, leaf ``i`` at array index ``2n - 2 - i``, node ``k``'s
    children at ``2k + 1`` and ``2k + 2``. Any leaf count works, odd ones included, and the
    result depends only on the leaves and their order. The root equals
    ``SimpleMerkleTree.of(leaves, {sortLeaves: false}).root``; leaves stay in batch order
    here (sort them first to match that library's default ``sortLeaves: true``). One leaf
    is its own root with an empty proof; an empty batch has no root and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.crypto import keccak

from contracts.chain.domain import canonical_json


def item_bytes(item: Any) -> bytes:
    """The canonical JSON encoding of a batch item (see the module docstring)."""
    return canonical_json(item)


def item_leaf(item: Any) -> bytes:
    """The 32-byte leaf of a batch item: keccak256(keccak256(canonical JSON))."""
    return keccak(keccak(item_bytes(item)))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An internal node: keccak256 of the two children, smaller first (OZ ``_hashPair``)."""
    return keccak(a + b) if a <= b else keccak(b + a)


def _tree(leaves: Sequence[bytes]) -> list[bytes]:
    if not leaves:
        raise ValueError("an empty batch has no Merkle root: anchor at least one item")
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, bytes) or len(leaf) != 32:
            raise ValueError(f"leaf {i} is not 32 bytes (use item_leaf to hash an item)")
    n = len(leaves)
    tree: list[bytes] = [b""] * (2 * n - 1)
    for i, leaf in enumerate(leaves):
        tree[2 * n - 2 - i] = leaf
    for k in range(n - 2, -1, -1):
        tree[k] = hash_pair(tree[2 * k + 1], tree[2 * k + 2])
    return tree


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over 32-byte leaves in batch order; ValueError for an empty batch."""
    return _tree(leaves)[0]


def merkle_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The siblings from leaf `index` up to the root (OZ ``getProof``); [] for one leaf."""
    return merkle_paths(leaves, [index])[0]


def merkle_paths(leaves: Sequence[bytes], indexes: Sequence[int]) -> list[list[bytes]]:
    """The path of each leaf of `indexes`, building the tree once."""
    for index in indexes:
        if not 0 <= index < len(leaves):
            raise IndexError(f"leaf index {index} is outside a batch of {len(leaves)}")
    tree = _tree(leaves)
    paths: list[list[bytes]] = []
    for index in indexes:
        path: list[bytes] = []
        k = len(tree) - 1 - index
        while k > 0:
            path.append(tree[k + 1] if k % 2 else tree[k - 1])
            k = (k - 1) // 2
        paths.append(path)
    return paths


def merkle_verify(leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `path` leads from `leaf` to `root` (OZ ``MerkleProof.verify``)."""
    node = leaf
    for sibling in path:
        node = hash_pair(node, sibling)
    return node == root
