"""Celery tasks: thin wrappers that load what they need and call one service."""

from __future__ import annotations

import logging

from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout

from webapp.chain.chain_client import chain
from webapp.chain.indexer import ChainIndexer, IndexerBusy, leader_lock
from webapp.projections.projector import Projector
from workers.celery import app

log = logging.getLogger(__name__)


@app.task(
    autoretry_for=(NodeUnreachable, Timeout),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=10,
    ignore_result=True,
)
def index_chain() -> int:
    """Index to the head under the leader lock; a second concurrent run returns at once."""
    w3, manifest = chain()
    try:
        with leader_lock(manifest.chain_id):
            stored = ChainIndexer(w3, manifest).run_until_head()
            Projector(manifest.chain_id).apply_pending()
            return stored
    except IndexerBusy:
        log.debug("indexer already running for chain %s", manifest.chain_id)
        return 0
