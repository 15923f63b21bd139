"""Fixtures for the chain mirror: a real anvil node with the system deployed, and the
real PostgreSQL behind Django (DATABASE_URL; `make test` points it at the local server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from web3 import Web3

from contracts.chain import LocalSigner, get_web3
from contracts.deploy import Manifest, read_manifest
from contracts.node import AnvilNode
from tests.contracts.consortium import MEMBERS, Consortium


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
