"""Fixtures for the chain mirror: a real anvil node with the system deployed, and the
real PostgreSQL behind Django (DATABASE_URL; `make test` points it at the local server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from web3 import Web3

from contracts.chain.client import LocalSigner, get_web3
from contracts.chain.deploy import Manifest, read_manifest
from deploy.local.node import AnvilNode
from tests.contracts.consortium import MEMBERS, Consortium
from tests.webapp.network import Network


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    """A fresh anvil per test: reorg tests rewrite its history."""
    with AnvilNode() as n:
        yield n
    get_web3.cache_clear()


@pytest.fixture
def chain(node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    get_web3.cache_clear()
    w3 = get_web3(node.url)
    signers = [LocalSigner.create() for _ in range(len(MEMBERS) + 2)]
    return Consortium.create(w3, signers, tmp_path_factory.mktemp("deployments"))


@pytest.fixture
def manifest(chain: Consortium) -> Manifest:
    found = read_manifest(chain.w3.eth.chain_id, chain.deployed_in)
    assert found is not None
    return found


@pytest.fixture
def w3(chain: Consortium) -> Web3:
    return chain.w3


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("integration") and connection.vendor != "postgresql":
        pytest.fail("integration tests run on PostgreSQL: set DATABASE_URL (make test does)")


@pytest.fixture
def portal_settings(
    node: AnvilNode, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Django settings pointed at this test's node, key directory and deployments."""
    from webapp.chain import chain_client
    from webapp.organisations.keys import clear_caches

    chain_client.cache_clear()
    clear_caches()
    monkeypatch.setenv("PROVENANT_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    settings.CHAIN_RPC_URL = node.url
    settings.CHAIN_ID = node.chain_id
    settings.KEYSTORE_DIR = tmp_path / "keys"
    settings.KEYSTORE_KDF_ITERATIONS = 2**10
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.OPERATIONS_DISPATCH = False
    yield settings
    chain_client.cache_clear()
    clear_caches()


@pytest.fixture
def network(portal_settings: Any, node: AnvilNode, tmp_path: Path) -> Network:
    """Five organisations onboarded through the web app on a fresh anvil."""
    return Network.create(get_web3(node.url), tmp_path / "deployments")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(settings: Any) -> None:
    """Sign-in failures and API request counts live in the cache: each test starts with
    none (the tests' cache is this process's memory)."""
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()
