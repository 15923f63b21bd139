"""One submitter at a time per sender: the lock that makes nonce allocation safe."""

from __future__ import annotations

import contextlib
import fcntl
import time
import zlib
from collections.abc import Iterator

from django.conf import settings
from django.db import connection


class SenderBusy(RuntimeError):
    """Another worker held the sender's lock for longer than we were willing to wait."""


@contextlib.contextmanager
def sender_lock(chain_id: int, address: str, *, timeout: float = 30.0) -> Iterator[None]:
    """Held from reading the sender's next nonce until the node has the transaction.

    A PostgreSQL session advisory lock (it survives the commits made inside it, and goes
    with the session if the worker dies), or a file lock next to the SQLite database.
    """
    key = zlib.crc32(f"provenant-sender-{chain_id}-{address.lower()}".encode())
    deadline = time.monotonic() + timeout
    if connection.vendor == "postgresql":
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                (locked,) = cursor.fetchone() or (False,)
            if locked:
                break
            if time.monotonic() > deadline:
                raise SenderBusy(f"sender {address} is busy")
            time.sleep(0.01)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    lock_dir = settings.DATA_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"sender-{chain_id}-{address.lower()}.lock", "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SenderBusy(f"sender {address} is busy") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
