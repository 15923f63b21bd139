"""The indexer's view of the chain: the cached client and the deployment manifest."""

from __future__ import annotations

from django.conf import settings
from web3 import Web3

from contracts.chain import get_web3
from contracts.deploy import Manifest, read_manifest


class NotDeployed(RuntimeError):
    """No deployment manifest for the node's chain."""


def chain() -> tuple[Web3, Manifest]:
    w3 = get_web3(settings.CHAIN_RPC_URL)
    manifest = read_manifest(w3.eth.chain_id)
    if manifest is None:
        raise NotDeployed(f"no deployment manifest for chain {w3.eth.chain_id}: run `make deploy`")
    return w3, manifest
