"""Which process of a parallel run (`pytest -n N`) this is: 0 for the first or only one.

Processes of one run share the machine's services; where a test needs a resource of its own
on a shared service (a Redis database, a queue name), it numbers it by this index.
"""

from __future__ import annotations

import os


def parallel_index() -> int:
    """0, 1, 2... for pytest-xdist's gw0, gw1, gw2...; 0 outside a parallel run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
