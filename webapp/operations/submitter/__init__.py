"""The transaction submitter: signs a queued operation with its organisation's key store,
sends the raw transaction, and follows it until it is mined.

Nonces: the sender's lock is held from reading the node's pending nonce until the node has
accepted the transaction, so two workers never sign the same nonce, and a transaction the
node refused never took one (no gap). The signed bytes and their hash are committed
*before* the send: if the worker dies after the node got them, the retry finds the hash on
the node instead of signing a second fact; if the node never got them, the retry sends the
same bytes again, or signs afresh when their nonce has gone to another transaction.

Every failure before the send (node down, key store down, sender busy) leaves the
operation queued with a `waiting_reason` the portal shows, and raises
:class:`SubmitLater`; the Celery task queues itself again with backoff and the sweeper
re-enqueues anything a lost task left behind. A call that cannot be encoded (a number too
large for its type, a date before 1970) or built for any other reason that waiting cannot
cure ends the operation failed with that reason: it never blocks the sender or the sweep.

After the send, :func:`operation_track` follows the transaction. When it is in no block
and the node no longer holds it (a reorganisation removed its block, the node dropped
it), the same signed bytes go out again while their nonce is still free; only when the
sender's confirmed nonce has passed it and the hash is still not on chain (the nonce went
to another transaction, so these bytes can never be mined) is the operation signed afresh.
Before any signing or re-sending, the chain ids in its call must still name what they
named when it was queued (see `references.py`); otherwise it fails with the reason.
"""

from webapp.operations.submitter.common import SubmitLater, contract_call, unencodable_reason
from webapp.operations.submitter.send import operation_send
from webapp.operations.submitter.track import operation_track

__all__ = [
    "SubmitLater",
    "contract_call",
    "operation_send",
    "operation_track",
    "unencodable_reason",
]
