"""What every entry point (manage.py, the WSGI application, the Celery worker) does once its
imports are done."""

from __future__ import annotations

import sys

from webapp.limits import RECURSION_LIMIT


def restore_recursion_limit() -> None:
    """Put Python's recursion limit back to a value the C stack can hold.

    py_ecc, imported by web3, raises the limit to 100,000 at import time. At that depth any
    recursion in C (the JSON decoder, repr, pickle) overflows the stack and the process dies
    with a segfault instead of raising RecursionError. web3 is imported here first so that
    its import cannot raise the limit again afterwards."""
    import web3  # noqa: F401  (imported for its side effect on the limit)

    sys.setrecursionlimit(RECURSION_LIMIT)
