"""One submitter at a time per sender: the lock that makes nonce allocation safe."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from webapp.db_locks import LockBusy, advisory_lock


class SenderBusy(LockBusy):
    """Another worker held the sender's lock for longer than we were willing to wait."""


@contextlib.contextmanager
def sender_lock(chain_id: int, address: str, *, timeout: float = 30.0) -> Iterator[None]:
    """Held from reading the sender's next nonce until the node has the transaction."""
    name = f"provenant-sender-{chain_id}-{address.lower()}"
    with advisory_lock(name, wait=timeout, busy=SenderBusy(f"sender {address} is busy")):
        yield
