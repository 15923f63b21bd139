"""The day-2 commands change a generated network the way Besu needs: every node's files, the
consortium record, and the JSON-RPC calls in the right order (allow-lists, then votes from
every current validator); with --rpc they send those calls and check the result (against a
stand-in for Besu's JSON-RPC: no node runs here). Bad input is refused and changes nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deploy.besu import day2
from deploy.besu.consortium import MemberSpec
from deploy.besu.files import toml_dumps
from deploy.besu.keys import NodeKey
from deploy.besu.send import Sender
from tests.deploy.besu_network import (
    ACCOUNTS,
    FakeBesu,
    consortium_doc,
    curl_calls,
    enode_of,
    fake_besu,
    generated,
    key_address,
    member,
    node_dirs,
    permissions,
    run,
    static_nodes,
    tree,
)

pytestmark = pytest.mark.unit

NEW_ACCOUNT = "0x" + "ec" * 20
VALIDATORS = ["alpha", "bravo", "charlie", "delta"]


def add_echo(out: Path, *extra: str) -> list[str]:
    return [
        "add-member", "--out", str(out), "--slug", "echo", "--name", "Echo Foods",
        "--host", "10.0.0.20", "--validator", "--account", NEW_ACCOUNT, *extra,
    ]  # fmt: skip


def test_adding_a_fifth_validator_prints_four_votes_and_updates_every_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    genesis = (out / "genesis.json").read_text()

    code, said, err = run(capsys, *add_echo(out))
    assert code == 0, err

    echo = out / "nodes/echo"
    assert (echo / "key").stat().st_mode & 0o777 == 0o600
    address = key_address(echo / "key")
    calls = curl_calls(said)
    votes = [c for c in calls if c["method"] == "qbft_proposeValidatorVote"]
    assert [v["params"] for v in votes] == [[address, True]] * 4
    enode = enode_of(echo)
    node_adds = [c for c in calls if c["method"] == "perm_addNodesToAllowlist"]
    account_adds = [c for c in calls if c["method"] == "perm_addAccountsToAllowlist"]
    assert [c["params"] for c in node_adds] == [[[enode]]] * 5  # every existing node
    assert [c["params"] for c in account_adds] == [[[NEW_ACCOUNT]]] * 5
    assert said.index("perm_addNodesToAllowlist") < said.index("qbft_proposeValidatorVote")
    assert "http://127.0.0.1:8545" in said  # validators answer on their own host only

    enodes = sorted(enode_of(node) for node in node_dirs(out))
    assert len(enodes) == 6
    for node in node_dirs(out):
        assert sorted(static_nodes(node)) == enodes
        assert sorted(permissions(node)["nodes-allowlist"]) == enodes
        assert NEW_ACCOUNT in permissions(node)["accounts-allowlist"]
    assert (out / "genesis.json").read_text() == genesis  # a running chain keeps its genesis
    assert (echo / "genesis.json").read_text() == genesis
    record = tomllib.loads((out / "consortium.toml").read_text())
    assert [m["slug"] for m in record["members"]][-1] == "echo"
    assert record["members"][-1]["role"] == "validator"


def test_the_next_command_sees_the_added_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    assert run(capsys, *add_echo(out))[0] == 0
    code, said, _ = run(capsys, "remove-member", "--out", str(out), "--slug", "echo")
    assert code == 0
    votes = [c for c in curl_calls(said) if c["method"] == "qbft_proposeValidatorVote"]
    assert len(votes) == 5  # echo is a validator now, and votes on its own removal too


def test_removing_a_member_votes_it_out_then_drops_it_from_every_allow_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    leaving = out / "nodes/delta"
    address, enode = key_address(leaving / "key"), enode_of(leaving)

    code, said, err = run(capsys, "remove-member", "--out", str(out), "--slug", "delta")
    assert code == 0, err

    calls = curl_calls(said)
    votes = [c["params"] for c in calls if c["method"] == "qbft_proposeValidatorVote"]
    assert votes == [[address, False]] * 4
    removals = [c["params"] for c in calls if c["method"] == "perm_removeNodesFromAllowlist"]
    assert removals == [[[enode]]] * 4  # the nodes that stay
    account = ACCOUNTS[4]
    assert [[[account]]] * 4 == [
        c["params"] for c in calls if c["method"] == "perm_removeAccountsFromAllowlist"
    ]
    assert said.index("qbft_proposeValidatorVote") < said.index("perm_removeNodesFromAllowlist")
    assert not leaving.exists()
    assert (out / "retired/delta/key").exists()  # its key is kept, not deleted
    for node in node_dirs(out):
        assert enode not in static_nodes(node)
        assert enode not in permissions(node)["nodes-allowlist"]
        assert account not in permissions(node)["accounts-allowlist"]


def test_rotating_a_validator_key_votes_the_new_address_in_then_the_old_one_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    node = out / "nodes/alpha"
    old_address, old_enode = key_address(node / "key"), enode_of(node)

    code, said, err = run(capsys, "rotate-node-key", "--out", str(out), "--slug", "alpha")
    assert code == 0, err
    new_address, new_enode = key_address(node / "key"), enode_of(node)
    assert new_address != old_address
    assert key_address(node / "key.previous") == old_address
    assert (node / "key").stat().st_mode & 0o777 == 0o600
    calls = curl_calls(said)
    assert [c["params"] for c in calls if c["method"] == "qbft_proposeValidatorVote"] == [
        [new_address, True]
    ] * 4
    assert [c["params"] for c in calls if c["method"] == "perm_addNodesToAllowlist"] == [
        [[new_enode]]
    ] * 5
    for other in node_dirs(out):  # both enodes allowed until the rotation is finished
        assert {old_enode, new_enode} <= set(permissions(other)["nodes-allowlist"])

    code, said, err = run(
        capsys, "rotate-node-key", "--out", str(out), "--slug", "alpha", "--finish"
    )
    assert code == 0, err
    calls = curl_calls(said)
    assert [c["params"] for c in calls if c["method"] == "qbft_proposeValidatorVote"] == [
        [old_address, False]
    ] * 4
    assert [c["params"] for c in calls if c["method"] == "perm_removeNodesFromAllowlist"] == [
        [[old_enode]]
    ] * 5
    assert not (node / "key.previous").exists()
    for other in node_dirs(out):
        assert old_enode not in permissions(other)["nodes-allowlist"]
        assert new_enode in static_nodes(other)


def _refused(capsys: pytest.CaptureFixture[str], out: Path, argv: list[str], message: str) -> None:
    before = tree(out)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert tree(out) == before


def test_bad_day2_input_is_refused_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    other = tmp_path / "other.toml"
    other.write_text(toml_dumps(consortium_doc(name="other-net", chain_id=7)))
    base = ["--out", str(out)]
    add = ["add-member", *base, "--name", "X", "--validator"]
    cases = [
        (["remove-member", *base, "--slug", "zulu"], "no member 'zulu' in this network"),
        ([*add, "--slug", "bravo", "--host", "10.0.0.30"], "'bravo' is already in the network"),
        ([*add, "--slug", "echo", "--host", "10.0.0.11"], "port clash on 10.0.0.11:30303"),
        ([*add, "--slug", "echo", "--host", "10.0.0.30", "--account", "0xabc"],
         "'0xabc' is not an address"),
        ([*add, "--slug", "echo", "--host", "10.0.0.30", "--account",
          "0x" + "aB" * 20], "wrong EIP-55 checksum"),
        ([*add, "--slug", "Echo!", "--host", "10.0.0.30"], "slug must be lower-case"),
        ([*add, "--slug", "echo", "--host", "10.0.0.30", "--rpc", "zulu=http://x:1"],
         "no member 'zulu'"),
        (["remove-member", *base, "--slug", "gateway"], "only rpc node"),
        (["remove-member", *base, "--slug", "alpha", "--consortium", str(other)],
         "describes 'other-net' (chain 7)"),
        (["rotate-node-key", *base, "--slug", "alpha", "--finish"], "no key rotation to finish"),
        (["rotate-node-key", "--out", str(tmp_path / "nowhere"), "--slug", "alpha"],
         "holds no network"),
    ]  # fmt: skip
    for argv, message in cases:
        _refused(capsys, out, argv, message)


def test_the_validator_set_never_drops_below_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    for slug in ("alpha", "bravo", "charlie"):
        assert run(capsys, "remove-member", "--out", str(out), "--slug", slug)[0] == 0
    _refused(capsys, out, ["remove-member", "--out", str(out), "--slug", "delta"],
             "delta is the only validator")  # fmt: skip
    # Rotating the only validator's key would stop the chain while its node restarts.
    _refused(capsys, out, ["rotate-node-key", "--out", str(out), "--slug", "delta"],
             "the chain would stop")  # fmt: skip


def test_a_pending_rotation_blocks_other_changes_until_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    assert run(capsys, "rotate-node-key", "--out", str(out), "--slug", "alpha")[0] == 0
    _refused(capsys, out, add_echo(out), "rotation of alpha is not finished")


def test_an_hsm_key_rotation_takes_the_new_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    hsm = NodeKey.create()
    code, said, err = run(
        capsys, "rotate-node-key", "--out", str(out), "--slug", "bravo",
        "--public-key", "0x" + hsm.public_key, "--hsm-key-alias", "bravo-2026",
    )  # fmt: skip
    assert code == 0, err
    config = tomllib.loads((out / "nodes/bravo/config.toml").read_text())
    assert config["security-module"] == "hsm"
    assert config["plugin-hsm-key-alias"] == "bravo-2026"
    assert not (out / "nodes/bravo/key").exists()
    assert [hsm.address, True] in [c["params"] for c in curl_calls(said)]


def test_with_rpc_the_calls_are_sent_and_the_new_validator_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = generated(tmp_path, capsys)
    besu = fake_besu(out, monkeypatch)
    rpc = [f"--rpc={slug}=http://{slug}:8545" for slug in [*VALIDATORS, "gateway"]]

    code, said, err = run(
        capsys, *add_echo(out, *rpc, "--rpc=echo=http://echo:8545", "--poll", "0")
    )
    assert code == 0, err

    address, enode = key_address(out / "nodes/echo/key"), enode_of(out / "nodes/echo")
    assert address in besu.validators
    votes = besu.methods("qbft_proposeValidatorVote")
    assert sorted(url for url, _ in votes) == sorted(f"http://{s}:8545" for s in VALIDATORS)
    for url in (f"http://{s}:8545" for s in [*VALIDATORS, "gateway"]):
        assert enode in besu.nodes[url]
        assert NEW_ACCOUNT in besu.accounts[url]
    assert len(besu.methods("qbft_discardValidatorVote")) == 4
    assert "qbft_getValidatorsByBlockNumber latest shows " + address + " in" in said
    assert "echo: connected to peers, eth_syncing false" in said  # before the votes
    methods = [method for _, method, _ in besu.calls]
    assert methods.index("eth_syncing") < methods.index("qbft_proposeValidatorVote")

    assert run(capsys, "remove-member", "--out", str(out), "--slug", "echo", *rpc, "--poll",
               "0", "--rpc=echo=http://echo:8545")[0] == 0  # fmt: skip
    assert address not in besu.validators
    assert all(enode not in besu.nodes[f"http://{s}:8545"] for s in [*VALIDATORS, "gateway"])
    assert all(NEW_ACCOUNT not in besu.accounts[f"http://{s}:8545"] for s in VALIDATORS)


def test_sending_a_plan_twice_changes_the_allow_lists_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = generated(tmp_path, capsys)
    besu = fake_besu(out, monkeypatch)
    spec = MemberSpec("echo", "Echo", "10.0.0.20", 30303, 8545, 9545, False, [NEW_ACCOUNT])
    plan = day2.add_member(out, spec)
    urls = {slug: f"http://{slug}:8545" for slug in [*VALIDATORS, "gateway"]}

    Sender(urls, wait_seconds=0, poll_seconds=0, say=lambda _: None).run(plan)
    changes = len(
        besu.methods("perm_addNodesToAllowlist") + besu.methods("perm_addAccountsToAllowlist")
    )
    Sender(urls, wait_seconds=0, poll_seconds=0, say=lambda _: None).run(plan)

    assert changes == 10
    assert (
        len(besu.methods("perm_addNodesToAllowlist") + besu.methods("perm_addAccountsToAllowlist"))
        == 10
    )
    assert all(besu.nodes[url].count(enode_of(out / "nodes/echo")) == 1 for url in urls.values())


def test_with_rpc_a_vote_that_does_not_take_effect_fails_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = generated(tmp_path, capsys)
    besu: FakeBesu = fake_besu(out, monkeypatch)
    besu.apply_votes = False  # the validators never make the blocks that count the votes
    code, _, err = run(
        capsys, *add_echo(out, "--rpc", "http://{host}:{rpc_port}", "--wait", "0", "--poll", "0")
    )
    assert code == 1
    assert "gave up after 0 s: qbft_getValidatorsByBlockNumber" in err


def test_with_rpc_to_too_few_validators_the_votes_are_left_to_the_operator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = generated(tmp_path, capsys)
    besu = fake_besu(out, monkeypatch)
    code, said, _ = run(capsys, *add_echo(out, "--rpc=alpha=http://a:1", "--rpc=bravo=http://b:1"))
    assert code == 0
    assert "not checked: echo must be running and synced" in said
    assert "2 of 4 votes sent: more than half are needed" in said
    assert "not sent (no --rpc for them): charlie, delta, gateway" in said
    assert not besu.methods("qbft_getValidatorsByBlockNumber")


def test_removing_the_apps_rpc_node_points_provenant_env_at_the_next_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = consortium_doc()["members"] + [member("gateway2", 6, role="rpc")]
    out = generated(tmp_path, capsys, members=members)
    assert "PROVENANT_RPC_URL=http://10.0.0.15:8545" in (out / "provenant.env").read_text()

    code, said, _ = run(capsys, "remove-member", "--out", str(out), "--slug", "gateway")
    assert code == 0
    assert "PROVENANT_RPC_URL=http://10.0.0.16:8545" in (out / "provenant.env").read_text()
    assert "warning: provenant.env now points the app at gateway2" in said
    assert "qbft_proposeValidatorVote" not in said  # an rpc node is not voted out
