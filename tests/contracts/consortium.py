"""A small consortium on a fresh deployment, with helpers that keep tests readable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.chain.client import (
    LocalSigner,
    SystemContracts,
    TransactionReverted,
    send_transaction,
)
from contracts.chain.deploy import deploy_system
from contracts.chain.domain import Role

H1 = b"\x01" * 32
H2 = b"\x02" * 32

#: Members onboarded by `Consortium.create` (name -> roles); `stranger` is never registered.
MEMBERS: dict[str, Role] = {
    "miner": Role.MINER,
    "refinery": Role.MANUFACTURER,
    "maker": Role.MANUFACTURER,
    "distributor": Role.DISTRIBUTOR,
    "retailer": Role.RETAILER,
    "certifier": Role.CERTIFIER,
    "reporter": Role.REPORTER,
    "auditor": Role.AUDITOR,
}

#: Gas for every test transaction (no estimate), so failing calls are mined and revert.
TEST_GAS = 2_000_000


@dataclass
class Consortium:
    w3: Web3
    system: SystemContracts
    admin: LocalSigner
    members: dict[str, LocalSigner]
    stranger: LocalSigner
    deployed_in: Path
    _next_id: list[int] = field(default_factory=lambda: [1000])

    @classmethod
    def create(cls, w3: Web3, signers: list[LocalSigner], directory: Path) -> Consortium:
        admin, *rest = signers
        _, system, _ = deploy_system(w3, admin, directory=directory)
        members = dict(zip(MEMBERS, rest, strict=False))
        stranger = rest[len(MEMBERS)]
        c = cls(w3, system, admin, members, stranger, directory)
        for name, roles in MEMBERS.items():
            c.act(
                admin, c.lots.functions.registerParticipant(members[name].address, int(roles), H1)
            )
        return c

    def __getattr__(self, name: str) -> LocalSigner:
        try:
            return self.__dict__["members"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def lots(self) -> Any:
        return self.system.lots

    @property
    def certificates(self) -> Any:
        return self.system.certificates

    @property
    def anchors(self) -> Any:
        return self.system.anchors

    def new_id(self) -> int:
        self._next_id[0] += 1
        return self._next_id[0]

    def act(self, signer: LocalSigner, call: ContractFunction) -> TxReceipt:
        """Send `call` with a fixed gas limit and wait for it; a revert raises.

        No gas estimate: on py-evm an estimate (a binary search over executions) costs more
        than the transaction, and a failing call is then mined and reverts on chain, which
        is what the failure-path tests want to observe.
        """
        receipt = send_transaction(self.w3, signer, call, gas=TEST_GAS)
        assert not isinstance(receipt, str)
        return receipt

    def reverts(self, signer: LocalSigner, call: ContractFunction) -> TransactionReverted:
        """Send `call` so it is mined, and return its decoded revert."""
        with pytest.raises(TransactionReverted) as raised:
            self.act(signer, call)
        assert raised.value.tx_hash is not None, "expected a mined, reverted transaction"
        return raised.value

    def balance(self, who: LocalSigner | str, lot_id: int) -> int:
        address = who if isinstance(who, str) else who.address
        return int(self.lots.functions.balanceOf(address, lot_id).call())

    def balances(
        self, lot_ids: Iterable[int], extra_accounts: Iterable[str] = ()
    ) -> dict[tuple[str, int], int]:
        """Every member's, the stranger's and `extra_accounts`' (e.g. escrows) balance of
        each lot, read in one balanceOfBatch call: a before/after snapshot."""
        ids = list(lot_ids)
        accounts = [p.address for p in (*self.members.values(), self.stranger)]
        accounts += list(extra_accounts)
        keys = [(a, i) for a in accounts for i in ids]
        values = self.lots.functions.balanceOfBatch(
            [a for a, _ in keys], [i for _, i in keys]
        ).call()
        return {k: int(v) for k, v in zip(keys, values, strict=True)}

    def snapshot(
        self, lot_ids: Iterable[int], extra_accounts: Iterable[str] = ()
    ) -> dict[Any, Any]:
        """What a refused call must leave alone: balances, each lot's record and bundle
        contents hash, and the handoff and transformation counters."""
        ids = list(lot_ids)
        state: dict[Any, Any] = dict(self.balances(ids, extra_accounts))
        for i in ids:
            state[("lot", i)] = tuple(self.lots.functions.lot(i).call())
            state[("contents", i)] = bytes(self.lots.functions.bundleContentsHash(i).call())
        state["counts"] = tuple(self.lots.functions.counts().call())
        return state

    def events(self, receipt: TxReceipt, contract: Any, name: str) -> list[dict[str, Any]]:
        return [
            dict(e["args"])
            for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
        ]

    def register_lot(
        self, who: LocalSigner, quantity: int = 1000, kind: int = 1, lot_id: int | None = None
    ) -> int:
        lot_id = lot_id or self.new_id()
        self.act(who, self.lots.functions.registerLot(lot_id, quantity, kind, H1, H2))
        return lot_id

    def handoff(
        self, sender: LocalSigner, receiver: LocalSigner, lot_id: int, quantity: int
    ) -> int:
        receipt = self.act(
            sender, self.lots.functions.initiateHandoff(lot_id, receiver.address, quantity)
        )
        (event,) = self.events(receipt, self.lots, "HandoffInitiated")
        return int(event["handoffId"])

    def accept(
        self, receiver: LocalSigner, handoff_id: int, lot_id: int, sender: LocalSigner
    ) -> TxReceipt:
        return self.act(
            receiver,
            self.lots.functions.acceptHandoff(handoff_id, lot_id, sender.address, receiver.address),
        )
