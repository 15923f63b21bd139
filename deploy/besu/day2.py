"""Day-2 changes of a running network: add a member, remove one, rotate a node key, refresh
the allow-listed accounts from the app.

Each command changes the consortium in the network directory, re-renders every node's files
(only what changed is written) and returns a `Plan`: the ordered JSON-RPC calls to make on the
running nodes, as curl lines. `deploy.besu.send` sends a plan (`--rpc`) and checks its effect.

Why the order: a node is allow-listed everywhere before anything depends on it reaching its
peers; a validator joins by the votes of more than half of the current validators (so every
current validator is asked to vote) and leaves the same way before its node is cut off; a
rotated validator key is voted in before the node restarts with it and the old one voted out
afterwards (`rotate-node-key --finish`), so the validator set never loses the node's vote.
Besu's QBFT needs ceil(2n/3) of n validators online; a change that would leave the chain below
that while one node is switched over is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploy.besu import network
from deploy.besu.consortium import Consortium, ConsortiumError, Member, MemberSpec, load
from deploy.besu.files import FileChanges
from deploy.besu.keys import NodeKey, address_of, enode_url
from deploy.besu.rpc import Call


def quorum(validators: int) -> int:
    """Validators QBFT needs online to make blocks (Besu: ceil(2n/3))."""
    return math.ceil(2 * validators / 3)


@dataclass
class Step:
    title: str
    calls: list[Call] = field(default_factory=list)
    #: Something only the operator can do (start a node, copy a key), printed in order.
    manual: str | None = None
    #: (address, joins?) the votes of this step change the validator set by.
    validator_change: tuple[str, bool] | None = None
    #: A node to wait for (eth_syncing false) before the next step, when it can be reached.
    wait_synced: str | None = None


@dataclass
class Plan:
    summary: str
    steps: list[Step]
    changes: FileChanges
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps = [s for s in self.steps if s.calls or s.manual or s.wait_synced]

    def calls(self) -> list[Call]:
        return [call for step in self.steps for call in step.calls]

    def render(self) -> list[str]:
        lines = [self.summary, ""]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += self.changes.report()
        for number, step in enumerate(self.steps, 1):
            lines += ["", f"Step {number}. {step.title}"]
            if step.manual:
                lines.append(f"  by hand: {step.manual}")
            for call in step.calls:
                lines.append(f"  # on {call.node} ({call.host})")
                lines.append(f"  {call.curl()}")
        return lines


def default_url(m: Member) -> str:
    """Where a node's JSON-RPC answers: validators on their own host only."""
    return f"http://{'127.0.0.1' if m.is_validator else m.host}:{m.rpc_port}"


def call(m: Member, method: str, params: list[Any]) -> Call:
    return Call(m.slug, default_url(m), method, params, host=m.host)


def _allow(nodes: list[Member], enodes: list[str], accounts: list[str]) -> list[Call]:
    calls = []
    for m in nodes:
        if enodes:
            calls.append(call(m, "perm_addNodesToAllowlist", [enodes]))
        if accounts:
            calls.append(call(m, "perm_addAccountsToAllowlist", [accounts]))
    return calls


def _disallow(nodes: list[Member], enodes: list[str], accounts: list[str]) -> list[Call]:
    calls = []
    for m in nodes:
        if enodes:
            calls.append(call(m, "perm_removeNodesFromAllowlist", [enodes]))
        if accounts:
            calls.append(call(m, "perm_removeAccountsFromAllowlist", [accounts]))
    return calls


def _votes(voters: list[Member], address: str, join: bool) -> Step:
    verb = "in" if join else "out"
    return Step(
        f"Vote {address} {verb}: each current validator proposes it (more than half must); "
        f"then qbft_getValidatorsByBlockNumber ['latest'] shows it {verb} and the proposals "
        "are discarded (qbft_discardValidatorVote)",
        [call(v, "qbft_proposeValidatorVote", [address, join]) for v in voters],
        validator_change=(address, join),
    )


def _open(out: Path) -> tuple[Consortium, dict[str, NodeKey]]:
    path = out / network.CONSORTIUM
    if not path.exists():
        raise ConsortiumError(f"{out} holds no network ({path} is missing): run generate first")
    c = load(path)
    return c, network.load_keys(c, out)


def _enode(m: Member, key: NodeKey) -> str:
    return enode_url(key.public_key, m.host, m.p2p_port)


def _check_pending(c: Consortium) -> None:
    pending = [m.slug for m in c.members if m.previous_public_key]
    if pending:
        raise ConsortiumError(
            f"the key rotation of {', '.join(pending)} is not finished: run "
            "`rotate-node-key --slug ... --finish` first"
        )


def add_member(out: Path, spec: MemberSpec) -> Plan:
    c, _ = _open(out)
    _check_pending(c)
    if any(m.slug == spec.slug for m in c.members):
        raise ConsortiumError(f"member {spec.slug!r} is already in the network (duplicate slug)")
    new = spec.member()
    if c.hsm is not None and new.is_validator and not new.public_key:
        raise ConsortiumError(
            "this network keeps validator keys in HSMs: give the new node key's --public-key"
        )
    before = set(c.allowed_accounts())
    c2 = c.with_members([*c.members, new])
    changes = FileChanges(out)
    keys = network.render(c2, out, changes)
    enode = _enode(new, keys[new.slug])
    accounts = [a for a in c2.allowed_accounts() if a not in before]
    steps = [
        Step(
            f"Allow {new.slug}'s node and accounts on every existing node",
            _allow(list(c.members), [enode], accounts),
        ),
        Step(
            f"Start {new.slug}",
            manual=f"copy nodes/{new.slug}/ to {new.host} and start Besu there "
            "(besu --config-file=config.toml); it connects to its static nodes and syncs",
            wait_synced=new.slug,
        ),
    ]
    warnings = []
    if new.is_validator:
        address = keys[new.slug].address
        steps.append(_votes(c.validators, address, True))
        n = len(c.validators)
        if quorum(n + 1) > n:
            warnings.append(
                f"with {n + 1} validators QBFT needs {quorum(n + 1)} online: blocks stop "
                f"until {new.slug} runs"
            )
    role = "validator" if new.is_validator else "rpc node"
    return Plan(f"Add {new.slug} ({new.name}) as a {role}: {enode}", steps, changes, warnings)


def remove_member(out: Path, slug: str) -> Plan:
    c, keys = _open(out)
    _check_pending(c)
    leaving = c.member(slug)
    staying = [m for m in c.members if m.slug != slug]
    if leaving.is_validator and len(c.validators) == 1:
        raise ConsortiumError(f"{slug} is the only validator: the validator set cannot be empty")
    if not leaving.is_validator and len(c.rpc_nodes) == 1:
        raise ConsortiumError(f"{slug} is the only rpc node: the app would have no node to use")
    before = set(c.allowed_accounts())
    c2 = c.with_members(staying)
    changes = FileChanges(out)
    network.render(c2, out, changes)
    retired = out / "retired" / slug
    suffix = 1
    while retired.exists():  # a member removed before: keep its old files too
        suffix += 1
        retired = out / "retired" / f"{slug}-{suffix}"
    changes.move(network.node_dir(out, slug), retired)
    enodes = [_enode(leaving, keys[slug])]
    accounts = sorted(before - set(c2.allowed_accounts()))
    steps = []
    warnings = []
    if leaving == c.rpc_nodes[0]:
        rpc = c2.rpc_nodes[0]
        warnings.append(
            f"provenant.env now points the app at {rpc.slug} (http://{rpc.host}:{rpc.rpc_port}):"
            f" set the app's PROVENANT_RPC_URL to it before stopping {slug}"
        )
    if leaving.is_validator:
        steps.append(_votes(c.validators, keys[slug].address, False))
        if len(c2.validators) < 4:
            warnings.append(f"{len(c2.validators)} validators tolerate no faulty one (QBFT: 4)")
    steps += [
        Step(f"Stop {slug}", manual=f"stop Besu on {leaving.host}; its files are in {retired}"),
        Step(
            f"Remove {slug}'s node and accounts from the allow-lists",
            _disallow(staying, enodes, accounts),
        ),
    ]
    return Plan(f"Remove {slug} ({leaving.name})", steps, changes, warnings)


def rotate_node_key(
    out: Path, slug: str, *, public_key: str | None = None, hsm_key_alias: str | None = None
) -> Plan:
    """Phase one of a key rotation: a new key (or the public half of a new HSM key), its enode
    allowed everywhere and, for a validator, its address voted in. The old key stays in
    nodes/<slug>/key.previous until `finish_rotation`."""
    c, keys = _open(out)
    _check_pending(c)
    m = c.member(slug)
    old = keys[slug]
    if m.is_validator and quorum(len(c.validators) + 1) > len(c.validators):
        raise ConsortiumError(
            f"{slug} is one of {len(c.validators)} validators: while its node restarts with "
            "the new key the chain would stop (add a validator first)"
        )
    if c.hsm is not None and m.is_validator and not public_key:
        raise ConsortiumError("this network keeps validator keys in HSMs: give --public-key")
    changes = FileChanges(out)
    directory = network.node_dir(out, slug)
    if public_key:
        rotated = MemberSpec(
            m.slug,
            m.name,
            m.host,
            m.p2p_port,
            m.rpc_port,
            m.metrics_port,
            m.is_validator,
            list(m.accounts),
            public_key,
            hsm_key_alias,
        ).member()
        if rotated.public_key == old.public_key:
            raise ConsortiumError(f"{slug} already uses that public key")
        new_member = replace(rotated, previous_public_key=old.public_key)
        if not m.public_key:
            changes.move(directory / "key", directory / "key.previous")
    else:
        new_key = NodeKey.create()
        if m.public_key is None:
            changes.move(directory / "key", directory / "key.previous")
        changes.write(directory / "key", new_key.key_file_text(), private=True)
        new_member = replace(
            m, public_key=None, hsm_key_alias=None, previous_public_key=old.public_key
        )
    c2 = c.with_members([new_member if x.slug == slug else x for x in c.members])
    keys2 = network.render(c2, out, changes)
    new = keys2[slug]
    steps = [
        Step(
            f"Allow {slug}'s new enode on every node", _allow(list(c.members), [_enode(m, new)], [])
        )
    ]
    if m.is_validator:
        steps.append(_votes(c.validators, new.address, True))
    steps.append(
        Step(
            f"Restart {slug} with its new key",
            manual=f"copy nodes/{slug}/ to {m.host} and restart Besu; then run "
            f"`python -m deploy.besu rotate-node-key --out {out} --slug {slug} --finish`",
        )
    )
    summary = f"Rotate {slug}'s node key: {old.address} -> {new.address}"
    return Plan(summary, steps, changes)


def finish_rotation(out: Path, slug: str) -> Plan:
    """Phase two: the old address voted out, the old enode removed, the old key deleted."""
    c, _ = _open(out)
    m = c.member(slug)
    if not m.previous_public_key:
        raise ConsortiumError(f"{slug} has no key rotation to finish")
    old_enode = enode_url(m.previous_public_key, m.host, m.p2p_port)
    c2 = c.with_members(
        [replace(x, previous_public_key=None) if x.slug == slug else x for x in c.members]
    )
    changes = FileChanges(out)
    network.render(c2, out, changes)
    changes.remove(network.node_dir(out, slug) / "key.previous")
    steps = []
    if m.is_validator:
        steps.append(_votes(c.validators, address_of(m.previous_public_key), False))
    steps.append(
        Step(
            f"Remove {slug}'s old enode from every node",
            _disallow(list(c.members), [old_enode], []),
        )
    )
    return Plan(f"Finish the rotation of {slug}'s node key", steps, changes)


def sync_accounts(out: Path, app_accounts: list[str]) -> Plan:
    """Allow-list the app's organisations' current and pending signing accounts, and drop the
    ones the app no longer has (retired keys)."""
    c, _ = _open(out)
    before = set(c.allowed_accounts())
    c2 = replace(c, app_accounts=tuple(sorted(set(app_accounts))))
    changes = FileChanges(out)
    network.render(c2, out, changes)
    after = set(c2.allowed_accounts())
    nodes = list(c.members)
    steps = [
        Step("Allow the new accounts", _allow(nodes, [], sorted(after - before))),
        Step("Remove the accounts no longer in use", _disallow(nodes, [], sorted(before - after))),
    ]
    return Plan("Sync the allow-listed accounts with the app", steps, changes)
