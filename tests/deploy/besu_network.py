"""Helpers for the Besu network tests: a consortium file, a generated network, the tree of a
directory (to show a refused command changed nothing) and a stand-in for Besu's JSON-RPC."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account

from deploy.besu import cli
from deploy.besu.files import toml_dumps
from deploy.besu.keys import enode_identity

ACCOUNTS = [f"0x{n:040x}" for n in range(0xA1, 0xA6)]
DEPLOYER = "0x" + "de" * 20


def member(slug: str, n: int, role: str = "validator", **extra: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": slug.title(),
        "role": role,
        "host": f"10.0.0.{10 + n}",
        "p2p_port": 30303,
        "rpc_port": 8545,
        "metrics_port": 9545,
        "accounts": [ACCOUNTS[n % len(ACCOUNTS)]],
        **extra,
    }


def consortium_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "test-net",
        "chain_id": 4242,
        "block_period_seconds": 2,
        "empty_block_period_seconds": 30,
        "epoch_length": 30000,
        "request_timeout_seconds": 4,
        "rpc_max_logs_range": 2000,
        "accounts": [DEPLOYER],
        "transitions": [{"block": 500000, "block_period_seconds": 5}],
        "members": [
            member("alpha", 1),
            member("bravo", 2),
            member("charlie", 3),
            member("delta", 4),
            member("gateway", 5, role="rpc"),
        ],
    }
    doc.update(overrides)
    return doc


def write_consortium(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(toml_dumps(doc))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def generated(tmp_path: Path, capsys: pytest.CaptureFixture[str], **overrides: Any) -> Path:
    source = write_consortium(tmp_path / "consortium.toml", consortium_doc(**overrides))
    out = tmp_path / "net"
    code, _, err = run(capsys, "generate", "--consortium", str(source), "--out", str(out))
    assert code == 0, err
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def node_dirs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "nodes").iterdir() if p.is_dir())


def key_address(path: Path) -> str:
    return str(Account.from_key(path.read_text().strip()).address.lower())


def genesis_validators(out: Path) -> list[str]:
    extra = json.loads((out / "genesis.json").read_text())["extraData"]
    _, validators, _, _, _ = rlp.decode(bytes.fromhex(extra[2:]))
    return ["0x" + v.hex() for v in validators]


def enode_of(node: Path) -> str:
    return (node / "enode").read_text().strip()


def permissions(node: Path) -> dict[str, Any]:
    return tomllib.loads((node / "permissions_config.toml").read_text())


def static_nodes(node: Path) -> list[str]:
    return list(json.loads((node / "static-nodes.json").read_text()))


def curl_calls(output: str) -> list[dict[str, Any]]:
    """The JSON-RPC bodies of the curl lines a command printed."""
    bodies = []
    for line in output.splitlines():
        if line.strip().startswith("curl "):
            bodies.append(json.loads(line.split("--data '", 1)[1].split("'", 1)[0]))
    return bodies


class FakeBesu:
    """Every node's JSON-RPC, in memory: per-URL allow-lists, one shared validator set, and
    votes that change it once more than half of the validators proposed the same change."""

    def __init__(self, validators: list[str], nodes: list[str], accounts: list[str]) -> None:
        self.validators = {v.lower() for v in validators}
        self.initial_nodes = list(nodes)
        self.initial_accounts = list(accounts)
        self.nodes: dict[str, list[str]] = {}
        self.accounts: dict[str, list[str]] = {}
        self.votes: dict[str, dict[str, bool]] = {}  # address -> {url: join}
        self.calls: list[tuple[str, str, list[Any]]] = []
        self.apply_votes = True

    def post(self, url: str, payload: dict[str, Any], timeout: float = 10.0) -> Any:
        method, params = payload["method"], payload["params"]
        self.calls.append((url, method, params))
        self.nodes.setdefault(url, list(self.initial_nodes))
        self.accounts.setdefault(url, list(self.initial_accounts))
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            raise AssertionError(f"unexpected call {method}")
        return handler(url, params)

    def _perm_getNodesAllowlist(self, url: str, params: list[Any]) -> list[str]:
        return list(self.nodes[url])

    def _perm_getAccountsAllowlist(self, url: str, params: list[Any]) -> list[str]:
        return list(self.accounts[url])

    def _nodes(self, url: str, entries: list[str], add: bool) -> str:
        ids = {enode_identity(e) for e in entries}
        self.nodes[url] = [e for e in self.nodes[url] if enode_identity(e) not in ids]
        self.nodes[url] += entries if add else []
        return "Success"

    def _perm_addNodesToAllowlist(self, url: str, params: list[Any]) -> str:
        return self._nodes(url, params[0], True)

    def _perm_removeNodesFromAllowlist(self, url: str, params: list[Any]) -> str:
        return self._nodes(url, params[0], False)

    def _accounts(self, url: str, entries: list[str], add: bool) -> str:
        self.accounts[url] = [a for a in self.accounts[url] if a not in entries]
        self.accounts[url] += entries if add else []
        return "Success"

    def _perm_addAccountsToAllowlist(self, url: str, params: list[Any]) -> str:
        return self._accounts(url, params[0], True)

    def _perm_removeAccountsFromAllowlist(self, url: str, params: list[Any]) -> str:
        return self._accounts(url, params[0], False)

    def _qbft_proposeValidatorVote(self, url: str, params: list[Any]) -> bool:
        address, join = params[0].lower(), params[1]
        self.votes.setdefault(address, {})[url] = join
        agreeing = [j for j in self.votes[address].values() if j == join]
        if self.apply_votes and len(agreeing) * 2 > len(self.validators):
            (self.validators.add if join else self.validators.discard)(address)
        return True

    def _qbft_getValidatorsByBlockNumber(self, url: str, params: list[Any]) -> list[str]:
        assert params == ["latest"]
        return sorted(self.validators)

    def _qbft_discardValidatorVote(self, url: str, params: list[Any]) -> bool:
        self.votes.get(params[0].lower(), {}).pop(url, None)
        return True

    def _eth_syncing(self, url: str, params: list[Any]) -> bool:
        return False

    def _net_peerCount(self, url: str, params: list[Any]) -> str:
        return "0x5"

    def methods(self, name: str) -> list[tuple[str, list[Any]]]:
        return [(url, params) for url, method, params in self.calls if method == name]


def fake_besu(out: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBesu:
    """A FakeBesu in the state the network in `out` has on disk, answering every --rpc call."""
    doc = permissions(out)
    fake = FakeBesu(genesis_validators(out), doc["nodes-allowlist"], doc["accounts-allowlist"])
    monkeypatch.setattr("deploy.besu.rpc.post", fake.post)
    return fake
