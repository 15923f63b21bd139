"""Fixtures for the chain mirror: a real anvil node with the system deployed, and the
real PostgreSQL behind Django (DATABASE_URL; `make test` points it at the local server).

Deploying and onboarding happen once per run (`_network_template`, `_chain_template`):
each test gets the node reverted to the snapshot taken after them, the database rows they
wrote copied back, and the keystore files and deployment manifest copied into its own
tmp_path. A test that stops or restarts its node asks for `own_node`: `node` is then a
fresh anvil of its own, and `network` loads the template's chain into it.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from web3 import Web3

from contracts.chain.client import LocalSigner, bind_system, get_web3
from contracts.chain.deploy import Manifest, read_manifest
from deploy.local.node import AnvilNode
from tests.celery_app import forget_connections
from tests.chain_snapshot import ChainSnapshot, rpc
from tests.contracts.consortium import MEMBERS, Consortium
from tests.parallel import parallel_index
from tests.webapp.network import MEMBERS as NETWORK_MEMBERS
from tests.webapp.network import Network
from tests.webapp.template import RowsTemplate, delete_instead_of_truncate, empty_tables

KDF_ITERATIONS = 2**10


def _clear_caches() -> None:
    from webapp.chain import chain_client
    from webapp.organisations.keys import clear_caches

    get_web3.cache_clear()
    chain_client.cache_clear()
    clear_caches()


@pytest.fixture(autouse=True, scope="session")
def _quick_flush() -> Iterator[None]:
    """Transactional tests end with a flush of every table: by DELETE, not TRUNCATE."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            DatabaseOperations,
            "sql_flush",
            delete_instead_of_truncate(DatabaseOperations.sql_flush),
        )
        yield


@dataclass
class NetworkTemplate:
    chain: ChainSnapshot
    manifest: Manifest
    rows: RowsTemplate
    files: Path  # keys/ and deployments/ as onboarding left them
    state: str  # anvil_dumpState at the snapshot: blocks, receipts and accounts


@pytest.fixture(scope="session")
def _network_template(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[NetworkTemplate]:
    """The five organisations onboarded once, on an anvil of the whole run."""
    files = tmp_path_factory.mktemp("network")
    with AnvilNode() as anvil:
        with (
            pytest.MonkeyPatch.context() as mp,
            django_db_blocker.unblock(),
            override_settings(
                CHAIN_RPC_URL=anvil.url,
                CHAIN_ID=anvil.chain_id,
                KEYSTORE_DIR=files / "keys",
                KEYSTORE_KDF_ITERATIONS=KDF_ITERATIONS,
                MEDIA_ROOT=files / "media",
                OPERATIONS_DISPATCH=False,
            ),
        ):
            mp.setenv("PROVENANT_DEPLOYMENTS_DIR", str(files / "deployments"))
            _clear_caches()
            empty = empty_tables()
            net = Network.create(get_web3(anvil.url), files / "deployments")
            rows = RowsTemplate.dump(empty)
            rows.clear()
            _clear_caches()
        chain = ChainSnapshot(anvil)
        state = rpc(chain.w3, "anvil_dumpState")
        chain.take()
        yield NetworkTemplate(chain, net.manifest, rows, files, state)
    _clear_caches()


@pytest.fixture
def own_node() -> Iterator[AnvilNode]:
    """A fresh anvil for this test alone (it stops or restarts it)."""
    with AnvilNode() as n:
        yield n
    get_web3.cache_clear()


@pytest.fixture
def node(request: pytest.FixtureRequest, _network_template: NetworkTemplate) -> AnvilNode:
    """The network's anvil, back at the snapshot taken after onboarding (or `own_node`)."""
    get_web3.cache_clear()
    if "own_node" in request.fixturenames:
        own: AnvilNode = request.getfixturevalue("own_node")
        return own
    template = _network_template
    template.chain.rewind()
    return template.chain.node


@pytest.fixture(scope="session")
def _chain_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ChainSnapshot, Consortium]]:
    """A consortium deployed once, on an anvil of its own for the whole run."""
    with AnvilNode() as anvil:
        w3 = get_web3(anvil.url)
        signers = [LocalSigner.create() for _ in range(len(MEMBERS) + 2)]
        consortium = Consortium.create(w3, signers, tmp_path_factory.mktemp("deployments"))
        chain = ChainSnapshot(anvil)
        chain.take()
        yield chain, consortium
    get_web3.cache_clear()


@pytest.fixture
def chain(_chain_template: tuple[ChainSnapshot, Consortium]) -> Iterator[Consortium]:
    """The consortium, back at its snapshot, bound to a fresh client of `get_web3`."""
    snapshot, template = _chain_template
    snapshot.rewind()
    get_web3.cache_clear()
    w3 = get_web3(snapshot.node.url)
    addresses = {name: c.address for name, c in template.system.all.items()}
    yield dataclasses.replace(template, w3=w3, system=bind_system(w3, addresses), _next_id=[1000])
    get_web3.cache_clear()


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
    _clear_caches()
    monkeypatch.setenv("PROVENANT_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    settings.CHAIN_RPC_URL = node.url
    settings.CHAIN_ID = node.chain_id
    settings.KEYSTORE_DIR = tmp_path / "keys"
    settings.KEYSTORE_KDF_ITERATIONS = KDF_ITERATIONS
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.OPERATIONS_DISPATCH = False
    yield settings
    _clear_caches()


@pytest.fixture
def network(
    request: pytest.FixtureRequest,
    portal_settings: Any,
    node: AnvilNode,
    tmp_path: Path,
    _network_template: NetworkTemplate,
) -> Network:
    """Five organisations onboarded through the web app: restored from the run's template
    (with `own_node`, the template's chain is loaded into that node first)."""
    w3 = get_web3(node.url)
    template = _network_template
    if "own_node" in request.fixturenames:
        assert rpc(w3, "anvil_loadState", template.state)
    for part in ("keys", "deployments", "media"):
        if (template.files / part).exists():
            shutil.copytree(template.files / part, tmp_path / part)
    template.rows.restore()
    from webapp.organisations.models import Organisation

    orgs = {slug: Organisation.objects.get(slug=slug) for slug in NETWORK_MEMBERS}
    return Network(w3, template.manifest, orgs)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(settings: Any) -> None:
    """Sign-in failures and API request counts live in the cache: each test starts with
    none (the tests' cache is this process's memory)."""
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()


@pytest.fixture
def redis_worker(portal_settings: Any) -> Any:
    """A Celery worker with four threads, on the real Redis (database 15, emptied; 14, 13...
    for the second, third... process of a parallel run, so each run has its own queues)."""
    import redis
    from celery.contrib.testing.worker import start_worker

    from webapp.operations.services import task_producer
    from workers.celery import app

    url = f"redis://127.0.0.1:6379/{15 - parallel_index()}"
    redis.Redis.from_url(url).flushdb()
    previous = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url, app.conf.broker_transport_options = url, {}
    forget_connections(app)
    # The web side sends through its own producer, configured from the same settings.
    portal_settings.CELERY_BROKER_URL, portal_settings.CELERY_BROKER_TRANSPORT_OPTIONS = url, {}
    portal_settings.OPERATIONS_DISPATCH = True
    task_producer.cache_clear()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False) as worker:
        yield worker
    app.conf.broker_url, app.conf.broker_transport_options = previous
    forget_connections(app)
    task_producer.cache_clear()
