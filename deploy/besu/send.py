"""Sending a day-2 plan to the nodes (`--rpc`) and checking that it took effect.

Allow-list calls are made idempotent: the node's list is read first (perm_getNodesAllowlist,
perm_getAccountsAllowlist), only the missing (or still present) entries are sent, and the list
is read again to check the result. Votes are sent to every reachable validator; then
qbft_getValidatorsByBlockNumber ["latest"] is polled until the validator set shows the change
(votes count when their validator proposes a block, so this takes up to a few block periods),
and the proposals are discarded so they do not linger into a later vote. Every wait has a
deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from deploy.besu import rpc
from deploy.besu.consortium import ConsortiumError, Member
from deploy.besu.day2 import Plan, Step
from deploy.besu.keys import InvalidKey, enode_identity
from deploy.besu.rpc import Call, RpcError

ALLOWLISTS = {
    "perm_addNodesToAllowlist": ("perm_getNodesAllowlist", True),
    "perm_removeNodesFromAllowlist": ("perm_getNodesAllowlist", False),
    "perm_addAccountsToAllowlist": ("perm_getAccountsAllowlist", True),
    "perm_removeAccountsFromAllowlist": ("perm_getAccountsAllowlist", False),
}


def check_rpc_values(values: list[str], slugs: set[str]) -> None:
    """Refuses a malformed `--rpc` value: `SLUG=URL` for a known slug, or a URL template."""
    for value in values:
        if "{" in value:
            try:
                value.format(slug="s", host="127.0.0.1", rpc_port=8545)
            except (KeyError, IndexError, ValueError):
                raise ConsortiumError(
                    f"--rpc {value!r}: a template may use {{slug}}, {{host}} and {{rpc_port}}"
                ) from None
            continue
        slug, sep, url = value.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ConsortiumError(f"--rpc {value!r}: expected SLUG=http://HOST:PORT or a template")
        if slug not in slugs:
            raise ConsortiumError(f"--rpc {value!r}: no member {slug!r} in this network")


def endpoints(values: list[str], members: list[Member]) -> dict[str, str]:
    """Node slug -> JSON-RPC URL from `--rpc` values: `SLUG=URL`, or a URL template applied to
    every node, with {slug}, {host} and {rpc_port} (e.g. http://{host}:{rpc_port})."""
    check_rpc_values(values, {m.slug for m in members})
    found: dict[str, str] = {}
    for value in values:
        if "{" not in value:
            slug, _, url = value.partition("=")
            found[slug] = url
    for value in values:
        if "{" in value:
            for m in members:
                found.setdefault(
                    m.slug, value.format(slug=m.slug, host=m.host, rpc_port=m.rpc_port)
                )
    return found


class Sender:
    def __init__(
        self,
        urls: dict[str, str],
        *,
        wait_seconds: float,
        poll_seconds: float,
        say: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.urls = urls
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.say = say
        self.sleep = sleep
        self.clock = clock
        self.skipped: set[str] = set()

    def _post(self, node: str, method: str, params: list[Any]) -> Any:
        return rpc.post(
            self.urls[node], {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        )

    def _until(self, what: str, done: Callable[[], bool]) -> None:
        deadline = self.clock() + self.wait_seconds
        while not done():
            if self.clock() >= deadline:
                raise RpcError(f"gave up after {self.wait_seconds:g} s: {what}")
            self.sleep(self.poll_seconds)

    def _allowlist(self, call: Call) -> None:
        getter, adding = ALLOWLISTS[call.method]
        nodes = getter == "perm_getNodesAllowlist"

        def key(entry: str) -> Any:
            try:
                return enode_identity(entry) if nodes else entry.lower()
            except InvalidKey:  # something else than an enode in Besu's answer
                return entry

        def listed() -> set[Any]:
            return {key(e) for e in self._post(call.node, getter, [])}

        wanted = list(call.params[0])
        current = listed()
        todo = [e for e in wanted if (key(e) in current) != adding]
        if todo:
            self._post(call.node, call.method, [todo])
        after = listed()
        wrong = [e for e in wanted if (key(e) in after) != adding]
        if wrong:
            state = "missing from" if adding else "still in"
            raise RpcError(f"{call.node}: {', '.join(wrong)} {state} its {getter} result")
        verb = "added to" if adding else "removed from"
        done = f"{len(todo)} {verb}" if todo else "nothing to change in"
        self.say(f"  {call.node}: {call.method}: {done} the allow-list; checked with {getter}")

    def _votes(self, step: Step) -> None:
        assert step.validator_change is not None
        address, join = step.validator_change
        voters = [c for c in step.calls if c.node in self.urls]
        for c in voters:
            self._post(c.node, c.method, c.params)
            self.say(f"  {c.node}: {c.method} {c.params}: sent")
        if len(voters) * 2 <= len(step.calls):
            self.say(
                f"  {len(voters)} of {len(step.calls)} votes sent: more than half are "
                "needed; make the other calls on their nodes, then check the set"
            )
            return
        checker = voters[0].node

        def changed() -> bool:
            current = self._post(checker, "qbft_getValidatorsByBlockNumber", ["latest"])
            return (address.lower() in {v.lower() for v in current}) == join

        self._until(
            f"qbft_getValidatorsByBlockNumber on {checker} does not show "
            f"{address} {'in' if join else 'out'}",
            changed,
        )
        self.say(
            f"  {checker}: qbft_getValidatorsByBlockNumber latest shows {address} "
            f"{'in' if join else 'out'}"
        )
        for c in voters:
            self._post(c.node, "qbft_discardValidatorVote", [address])

    def _synced(self, node: str) -> None:
        if node not in self.urls:
            self.say(f"  not checked: {node} must be running and synced for the votes to matter")
            return

        def synced() -> bool:
            raw = self._post(node, "net_peerCount", [])
            try:
                peers = int(raw, 16)
            except (TypeError, ValueError):
                raise RpcError(f"{node}: net_peerCount answered {raw!r}") from None
            return peers > 0 and self._post(node, "eth_syncing", []) is False

        self._until(f"{node} has no peers or is still syncing", synced)
        self.say(f"  {node}: connected to peers, eth_syncing false")

    def run(self, plan: Plan) -> None:
        for number, step in enumerate(plan.steps, 1):
            self.say(f"Step {number}. {step.title}")
            if step.manual:
                self.say(f"  by hand: {step.manual}")
            if step.wait_synced:
                self._synced(step.wait_synced)
            self.skipped |= {c.node for c in step.calls if c.node not in self.urls}
            if step.validator_change:
                self._votes(step)
                continue
            for call in step.calls:
                if call.node not in self.urls:
                    continue
                if call.method in ALLOWLISTS:
                    self._allowlist(call)
                else:
                    self._post(call.node, call.method, call.params)
        if self.skipped:
            self.say(f"not sent (no --rpc for them): {', '.join(sorted(self.skipped))}")
