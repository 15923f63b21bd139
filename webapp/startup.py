"""What every entry point (manage.py, the WSGI application, the Celery worker) does once its
imports are done."""

from __future__ import annotations

import sys

from webapp.limits import RECURSION_LIMIT


def restore_recursion_limit() -> None:
    """Put Python's recursion limit back to a value the C stack can hold.

    py_ecc, imported by web3, raises the limit to 100,000 at import time, and py-evm
    (imported through eth-tester by the chain client) to at least 12,288. At such depths
    any recursion in C (the JSON decoder, repr, pickle) overflows the stack and the process
    dies with a segfault instead of raising RecursionError. Both are imported here first so
    that no later import raises the limit again."""
    import web3  # noqa: F401  (imported for its side effect on the limit)

    import contracts.chain.client  # noqa: F401  (imports eth-tester, and with it py-evm)

    sys.setrecursionlimit(RECURSION_LIMIT)
