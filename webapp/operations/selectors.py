"""Reads of operations."""

from __future__ import annotations

import re
from datetime import datetime

from webapp.operations.models import Operation

KEY_STORE_WAIT = (
    "The organisation's key store is unavailable; the operation waits and is tried again"
    " (an administrator finds the details in the operation's admin page)."
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}[/\\]?")


def operations_in_flight(*, chain_id: int, sender: str, before: datetime | None = None) -> bool:
    """Whether the sender has operations queued or submitted (created before `before`).

    Their effects are not in the latest block yet, so a simulation against it may refuse
    what will succeed once they are mined.
    """
    rows = Operation.objects.filter(
        chain_id=chain_id,
        sender=sender,
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED],
    )
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    return rows.exists()


def operation_reason_for_user(reason: str) -> str:
    """An operation's waiting reason or error as a person or partner system may see it.

    The stored text keeps the technical detail for administrators (the operation's admin
    page); what users see never names a server path, a key store's address or its
    configuration: a key-store problem becomes one plain sentence, and any other path
    or URL left in a node's or a contract's message is blanked.
    """
    if not reason:
        return reason
    if reason.lower().startswith("key store unavailable"):
        return KEY_STORE_WAIT
    return _PATH.sub("[server path]", _URL.sub("[server address]", reason))
