"""The web app's view of the chain: the cached client, the deployment and bound contracts.

The chain id comes from settings, not the node, so a form can queue an operation while
the node is down; the first call that reaches the node checks they agree.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from web3 import Web3

from contracts.chain.client import SystemContracts, bind_system, get_web3
from contracts.chain.deploy import Manifest, read_manifest


class NotDeployed(RuntimeError):
    """No deployment manifest for the configured chain."""


def deployment() -> Manifest:
    """The configured chain's deployment manifest (read from disk; no node needed)."""
    manifest = read_manifest(settings.CHAIN_ID)
    if manifest is None:
        raise NotDeployed(
            f"no deployment manifest for chain {settings.CHAIN_ID}: run `make deploy`"
        )
    return manifest


@functools.cache
def _checked(url: str, chain_id: int) -> None:
    actual = get_web3(url).eth.chain_id
    if actual != chain_id:
        raise ImproperlyConfigured(
            f"PROVENANT_CHAIN_ID is {chain_id} but the node at {url} serves chain {actual}"
        )


def chain() -> tuple[Web3, Manifest]:
    w3 = get_web3(settings.CHAIN_RPC_URL)
    _checked(settings.CHAIN_RPC_URL, settings.CHAIN_ID)
    return w3, deployment()


def system() -> tuple[Web3, SystemContracts]:
    """The client and the deployed contracts bound to it (bound once per deployment)."""
    w3, manifest = chain()
    return w3, _bound(settings.CHAIN_RPC_URL, tuple(sorted(manifest.addresses.items())))


@functools.cache
def _bound(url: str, addresses: tuple[tuple[str, str], ...]) -> SystemContracts:
    return bind_system(get_web3(url), dict(addresses))


def cache_clear() -> None:
    """Forget clients and checks (tests switch nodes)."""
    get_web3.cache_clear()
    _checked.cache_clear()
    _bound.cache_clear()
