"""Deployment on a real anvil node: raw signed transactions, a manifest, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from contracts.chain import deploy
from contracts.chain.artifacts import SYSTEM_CONTRACTS, load
from contracts.chain.client import LocalSigner
from contracts.chain.deploy import DeploymentError, deploy_system, load_system, read_manifest
from deploy.local.node import AnvilNode

pytestmark = [pytest.mark.chain, pytest.mark.node]


def _w3(node: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.url))


def test_deploy_writes_a_manifest_per_chain_id(deployments: Path) -> None:
    with AnvilNode() as node:
        w3 = _w3(node)
        admin = LocalSigner.create()  # no ether at all: the chain charges no gas
        manifest, system, deployed = deploy_system(w3, admin, directory=deployments)

        assert deployed == list(SYSTEM_CONTRACTS)
        raw = json.loads((deployments / "1337.json").read_text())
        assert raw["chainId"] == 1337
        assert raw["genesisHash"] == w3.eth.get_block(0)["hash"].to_0x_hex()
        assert raw["deploymentBlock"] == manifest.deployment_block == 1
        for name in SYSTEM_CONTRACTS:
            entry = raw["contracts"][name]
            assert entry["artifactHash"] == load(name).hash
            assert entry["sourceHash"] == load(name).source_hash
            assert len(w3.eth.get_code(entry["address"])) > 0
        assert system.lots.functions.certificates().call() == system.certificates.address
        assert system.certificates.functions.registry().call() == system.lots.address
        assert system.lots.functions.defaultAdmin().call() == admin.address
        admin_role = system.lots.functions.ADMIN_ROLE().call()
        assert system.lots.functions.hasRole(admin_role, admin.address).call()


def test_deploying_twice_reuses_the_deployment(deployments: Path) -> None:
    with AnvilNode() as node:
        w3 = _w3(node)
        admin = LocalSigner.create()
        first, _, _ = deploy_system(w3, admin, directory=deployments)
        head = w3.eth.block_number
        second, _, deployed = deploy_system(w3, admin, directory=deployments)
        assert deployed == []
        assert second.to_json() == first.to_json()
        assert w3.eth.block_number == head  # not a single transaction was sent


def test_a_restarted_node_keeps_its_chain_and_the_deployment(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    admin = LocalSigner.create()
    with AnvilNode(state_file=state) as node:
        first, _, _ = deploy_system(_w3(node), admin, directory=tmp_path)
    assert state.is_file()
    with AnvilNode(state_file=state) as node:
        second, _, deployed = deploy_system(_w3(node), admin, directory=tmp_path)
    assert deployed == []
    assert second.addresses == first.addresses


def test_a_new_chain_with_the_same_id_gets_a_new_deployment(deployments: Path) -> None:
    admin = LocalSigner.create()
    with AnvilNode() as node:
        first, _, _ = deploy_system(_w3(node), admin, directory=deployments)
    with AnvilNode() as node:
        w3 = _w3(node)
        second, _, deployed = deploy_system(w3, admin, directory=deployments)
        # anvil's genesis is the same on every start, so the missing code is what tells.
        assert deployed == list(SYSTEM_CONTRACTS)
        assert read_manifest(1337, deployments) == second
        for entry in second.contracts.values():
            assert w3.eth.get_transaction_receipt(entry["transactionHash"])["status"] == 1
        assert first.deployment_block == second.deployment_block


def test_a_changed_artifact_redeploys_that_contract_and_its_dependents(deployments: Path) -> None:
    with AnvilNode() as node:
        w3 = _w3(node)
        admin = LocalSigner.create()
        first, _, _ = deploy_system(w3, admin, directory=deployments)
        path = deployments / "1337.json"
        raw = json.loads(path.read_text())
        raw["contracts"]["Certificates"]["artifactHash"] = "0x" + "00" * 32
        path.write_text(json.dumps(raw))

        second, system, deployed = deploy_system(w3, admin, directory=deployments)
        assert deployed == ["Certificates", "Anchors"]
        assert second.addresses["Lots"] == first.addresses["Lots"]
        assert second.addresses["Certificates"] != first.addresses["Certificates"]
        assert system.lots.functions.certificates().call() == second.addresses["Certificates"]


def test_loading_an_undeployed_chain_says_how_to_deploy(deployments: Path) -> None:
    with AnvilNode() as node, pytest.raises(DeploymentError, match="make deploy"):
        load_system(_w3(node), deployments)


def test_the_command_deploys_on_the_local_chain_with_a_generated_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVENANT_DATA_DIR", str(tmp_path))
    with AnvilNode() as node:
        assert deploy.main(["--rpc", node.url]) == 0
        assert deploy.main(["--rpc", node.url]) == 0
    out = capsys.readouterr().out
    assert out.count("deployed") == 3
    assert out.count("reused") == 3
    key_file = tmp_path / "keys" / "deployer.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "deployments" / "1337.json").is_file()


def test_the_command_refuses_a_non_local_chain_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVENANT_DATA_DIR", str(tmp_path))
    with AnvilNode(chain_id=2024) as node:
        assert deploy.main(["--rpc", node.url]) == 2
    assert "--key-file" in capsys.readouterr().err
    assert not (tmp_path / "deployments").exists()
