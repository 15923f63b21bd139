"""The proofs of mirrored facts, built from the node and stored once built, so a repeated
download asks the node nothing. The mirror only says which log to prove."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from web3 import Web3
from web3.exceptions import Web3Exception

from contracts.proofs.build import ProofError, block_header, event_proof
from webapp.chain.chain_client import chain
from webapp.chain.models import ChainEvent
from webapp.passport.models import BlockHeaderProof, EventProof

T = TypeVar("T")


class NodeUnreachable(RuntimeError):
    """A proof that is not stored yet cannot be built now: the node did not answer (or
    its data no longer matches the mirror, e.g. mid-reorganisation)."""


def _from_node(build: Callable[[Web3], T]) -> T:
    """Run `build` against the node, turning every way it can be unreachable into one
    error with a reason a person can read."""
    try:
        w3, _ = chain()
        return build(w3)
    except ProofError as exc:
        raise NodeUnreachable(f"The node's data cannot be proven right now: {exc}") from exc
    except (OSError, Web3Exception) as exc:
        raise NodeUnreachable(
            f"The chain node is not reachable ({type(exc).__name__}); proofs that are not "
            "stored yet cannot be built until it answers again."
        ) from exc


def event_proofs_stored(*, events: list[ChainEvent]) -> list[dict[str, Any]]:
    """The proof document of each mirrored event, in order: from the store when built
    before, else from the node (and then stored). Raises NodeUnreachable when a missing
    proof cannot be built."""
    if not events:
        return []
    stored = {
        (p.chain_id, p.block_hash, p.log_index): p.document
        for p in EventProof.objects.filter(
            chain_id__in={e.chain_id for e in events},
            block_hash__in={e.block_hash.lower() for e in events},
            log_index__in={e.log_index for e in events},
        )
    }
    documents: list[dict[str, Any]] = []
    for event in events:
        key = (event.chain_id, event.block_hash.lower(), event.log_index)
        if key not in stored:
            document = _from_node(
                functools.partial(
                    event_proof, transaction_hash=event.transaction_hash, log_index=event.log_index
                )
            )
            if document["block_hash"] != key[1]:
                raise NodeUnreachable(
                    f"The node puts this event in block {document['block_hash']}, the mirror "
                    f"in {key[1]}: the chain is reorganising; try again in a moment."
                )
            EventProof.objects.bulk_create(
                [
                    EventProof(
                        chain_id=key[0],
                        block_hash=key[1],
                        log_index=key[2],
                        block_number=event.block_number,
                        document=document,
                    )
                ],
                ignore_conflicts=True,
            )
            stored[key] = document
        documents.append(stored[key])
    return documents


def block_header_stored(*, chain_id: int, number: int, block_hash: str) -> str:
    """The RLP header (0x-hex) of the mirrored block `number` with `block_hash`: from the
    store, else from the node (and then stored)."""
    block_hash = block_hash.lower()
    row = BlockHeaderProof.objects.filter(chain_id=chain_id, block_hash=block_hash).first()
    if row is not None:
        return row.header
    on_node, header = _from_node(lambda w3: block_header(w3, number=number))
    if on_node != block_hash:
        raise NodeUnreachable(
            f"Block {number} on the node is {on_node}, the mirror has {block_hash}: the chain "
            "is reorganising; try again in a moment."
        )
    BlockHeaderProof.objects.bulk_create(
        [
            BlockHeaderProof(
                chain_id=chain_id, block_hash=block_hash, block_number=number, header=header
            )
        ],
        ignore_conflicts=True,
    )
    return header
