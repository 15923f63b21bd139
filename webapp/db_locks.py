"""Cross-process locks by name: a PostgreSQL session advisory lock, or a file lock next to
the SQLite database.

The PostgreSQL lock belongs to the database session, so it survives the commits made while
it is held and goes with the session if the holder dies; the file lock goes with the
process. Either way a killed holder never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import zlib
from collections.abc import Iterator

from django.conf import settings
from django.db import connection


class LockBusy(RuntimeError):
    """Another process held the lock for longer than the caller was willing to wait."""


@contextlib.contextmanager
def advisory_lock(name: str, *, wait: float = 0.0, busy: LockBusy | None = None) -> Iterator[None]:
    """Hold the lock called `name` for the body of the ``with``.

    `wait` is how many seconds to keep trying (0: one try). When the lock stays taken,
    `busy` is raised (default: ``LockBusy(name)``); pass a subclass instance to tell the
    caller what was busy.
    """
    deadline = time.monotonic() + wait
    refusal = busy if busy is not None else LockBusy(f"lock {name!r} is held elsewhere")
    if connection.vendor == "postgresql":
        key = zlib.crc32(name.encode())
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                (locked,) = cursor.fetchone() or (False,)
            if locked:
                break
            if time.monotonic() >= deadline:
                raise refusal
            time.sleep(0.01)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    lock_dir = settings.DATA_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise refusal from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
