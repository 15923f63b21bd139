"""Key stores that just failed rest a few seconds before this process asks them again.

A Key Vault that does not answer costs each attempt its connection timeout and retries, a
keystore file with the wrong passphrase a full key derivation, an HSM without its token a
library call: asked again for every queued operation of its organisation, one failing
store would keep every submission worker busy and stall the other organisations'
operations. So the first failure is remembered per sender address for `REST_S` seconds;
operations of that sender meanwhile wait with the same reason at no cost, and the first
attempt after the rest asks the store again.
"""

from __future__ import annotations

import threading
import time

#: Seconds a failed key store is left alone (per process).
REST_S = 5.0

_failed: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def key_store_resting(sender: str) -> str | None:
    """Why the sender's key store failed a moment ago, while it rests; else None."""
    with _lock:
        failed = _failed.get(sender.lower())
    if failed is None or time.monotonic() - failed[0] >= REST_S:
        return None
    return failed[1]


def key_store_failed(sender: str, reason: str) -> None:
    with _lock:
        _failed[sender.lower()] = (time.monotonic(), reason)


def key_store_answered(sender: str) -> None:
    with _lock:
        _failed.pop(sender.lower(), None)


def key_stores_rested() -> None:
    """Forget every failure (with :func:`webapp.organisations.keys.clear_caches`)."""
    with _lock:
        _failed.clear()
