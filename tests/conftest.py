"""Fixtures shared by every tier: the in-process EVM, a local anvil node, a consortium.

Tiers are marked from what a test uses (`pytest_collection_modifyitems` below), on top of
any marker it declares: a test with none of them fails collection, so `make test-unit`,
`make test-chain` and `make test-integration` together always run every test."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import EthereumTesterProvider, Web3

from contracts.chain.client import LocalSigner, bind_system, get_web3
from contracts.custody.hsm import Pkcs11Config
from deploy.local.node import AnvilNode
from deploy.local.softhsm import ensure_token
from tests.background import Background, background
from tests.chain_snapshot import ChainSnapshot
from tests.contracts.consortium import MEMBERS, Consortium

TIERS = ("unit", "chain", "node", "integration")
#: Fixtures that start an anvil process (tests/conftest.py, tests/webapp/conftest.py).
NODE_FIXTURES = {
    "anvil", "anvil_w3", "anvil_consortium", "node", "own_node", "chain", "network",
    "_anvil_template", "_network_template", "_chain_template",
}  # fmt: skip
#: Fixtures that run an EVM in this process.
EVM_FIXTURES = {"evm", "evm_signers", "evm_consortium", "consortium"}
#: Fixtures that need a service: the database (PostgreSQL in the web app's tests),
#: SoftHSM2, a browser.
SERVICE_FIXTURES = {"db", "transactional_db", "django_db_setup", "softhsm", "page"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test's tier from the fixtures it uses; refuse a test that has no tier."""
    unmarked = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & NODE_FIXTURES:
            item.add_marker(pytest.mark.node)
        if fixtures & (NODE_FIXTURES | EVM_FIXTURES):
            item.add_marker(pytest.mark.chain)
        if fixtures & SERVICE_FIXTURES or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("node"):
            item.add_marker(pytest.mark.chain)
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            unmarked.append(item.nodeid)
    if unmarked:
        raise pytest.UsageError(
            "tests without a tier (mark them unit, or use the fixture they need):\n  "
            + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session")
def evm() -> Web3:
    """web3 over py-evm in this process (eth-tester): fast, no node."""
    return Web3(EthereumTesterProvider())


@pytest.fixture(scope="session")
def evm_signers(evm: Web3) -> list[LocalSigner]:
    keys = evm.provider.ethereum_tester.backend.account_keys  # type: ignore[attr-defined]
    return [LocalSigner.from_key(k.to_bytes()) for k in keys]


@pytest.fixture(scope="session")
def evm_consortium(
    evm: Web3, evm_signers: list[LocalSigner], tmp_path_factory: pytest.TempPathFactory
) -> Consortium:
    assert len(evm_signers) >= len(MEMBERS) + 2
    return Consortium.create(evm, evm_signers, tmp_path_factory.mktemp("deployments"))


@pytest.fixture
def consortium(evm: Web3, evm_consortium: Consortium) -> Iterator[Consortium]:
    """The deployed consortium on py-evm; every test starts from the same snapshot."""
    tester = evm.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    yield evm_consortium
    tester.revert_to_snapshot(snapshot)


@pytest.fixture(scope="session")
def _anvil_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ChainSnapshot, Consortium]]:
    """One anvil node for the run, with a consortium deployed, and a snapshot of it."""
    with AnvilNode() as node:
        get_web3.cache_clear()
        signers = [LocalSigner.create() for _ in range(len(MEMBERS) + 2)]
        consortium = Consortium.create(
            get_web3(node.url), signers, tmp_path_factory.mktemp("deployments")
        )
        snapshot = ChainSnapshot(node)
        snapshot.take()
        yield snapshot, consortium
    get_web3.cache_clear()


@pytest.fixture(scope="module")
def anvil(_anvil_template: tuple[ChainSnapshot, Consortium]) -> AnvilNode:
    """A real anvil node (free gas, chain id 1337) with the consortium deployed: one for the
    run, back at its snapshot when each module starts (a module's tests share its state)."""
    snapshot, _ = _anvil_template
    snapshot.rewind()
    return snapshot.node


@pytest.fixture(scope="module")
def anvil_w3(anvil: AnvilNode) -> Web3:
    get_web3.cache_clear()
    return get_web3(anvil.url)


@pytest.fixture(scope="module")
def anvil_consortium(
    anvil_w3: Web3, _anvil_template: tuple[ChainSnapshot, Consortium]
) -> Consortium:
    """The consortium on `anvil`, bound to the module's client."""
    _, template = _anvil_template
    addresses = {name: c.address for name, c in template.system.all.items()}
    return dataclasses.replace(
        template, w3=anvil_w3, system=bind_system(anvil_w3, addresses), _next_id=[1000]
    )


@pytest.fixture
def deployments(tmp_path: Path) -> Path:
    return tmp_path / "deployments"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Pkcs11Config:
    """A SoftHSM2 token for the whole run. SoftHSM reads its configuration and lists its
    tokens once per process, so every test shares this token and uses its own key labels."""
    return ensure_token(tmp_path_factory.mktemp("softhsm"), label="provenant-tests")


@pytest.fixture(scope="session", autouse=True)
def _early_jobs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background]:
    """Slow work of the selected test modules (fresh processes, the compiler), started when
    the run starts on a worker of its own: it runs on the CPU the tests leave idle, and
    each test then waits for its own result (`early`). A module declares it in
    ``start_early(jobs, tmp_path_factory)``, naming its jobs after the module; it is
    started when a selected test of the module uses `early`."""
    modules = {
        id(item.module): item.module
        for item in request.session.items
        if "early" in getattr(item, "fixturenames", ()) and getattr(item, "module", None)
    }
    with background(workers=max(1, (os.cpu_count() or 2) - 1)) as jobs:
        for module in sorted(modules.values(), key=lambda m: m.__name__):
            start = getattr(module, "start_early", None)
            if start is not None:
                start(jobs, tmp_path_factory)
        yield jobs


@pytest.fixture(scope="session")
def early(_early_jobs: Background) -> Background:
    """The jobs the selected modules started with the run (`_early_jobs`)."""
    return _early_jobs


@pytest.fixture(scope="session", autouse=True)
def _flush_the_warehouse() -> Iterator[None]:
    """The flush after a transactional test empties Django's tables; the warehouse's
    (schema ``reporting``, unmanaged models) are emptied with them."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    from webapp.exports.warehouse.schema import SCHEMA, TABLES

    original = DatabaseOperations.sql_flush

    def sql_flush(ops: Any, style: Any, tables: list[str], **options: Any) -> list[str]:
        statements = list(original(ops, style, tables, **options))
        return [*statements, *(f"DELETE FROM {SCHEMA}.{t};" for t in TABLES)]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's recovery times (tests/faults), also when xdist ran them."""
    lines = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        for name, value in getattr(report, "user_properties", [])
        if name == "fault_recovery"
    ]
    if lines:
        terminalreporter.section("fault recovery")
        for line in lines:
            terminalreporter.line(line)
