"""A small consortium on a fresh deployment, with helpers that keep tests readable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.chain import LocalSigner, SystemContracts, TransactionReverted, send_transaction
from contracts.deploy import deploy_system
from contracts.domain import Role

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

#: Gas for transactions sent past the estimate so that they are mined and revert on chain.
REVERT_GAS = 2_000_000


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
        receipt = send_transaction(self.w3, signer, call)
        assert not isinstance(receipt, str)
        return receipt

    def reverts(self, signer: LocalSigner, call: ContractFunction) -> TransactionReverted:
        """Send `call` past the gas estimate so it is mined, and return the revert."""
        try:
            self.act_unchecked(signer, call)
        except TransactionReverted as exc:
            assert exc.tx_hash is not None, "expected a mined, reverted transaction"
            return exc
        raise AssertionError("the transaction did not revert")

    def act_unchecked(self, signer: LocalSigner, call: ContractFunction) -> TxReceipt:
        receipt = send_transaction(self.w3, signer, call, gas=REVERT_GAS)
        assert not isinstance(receipt, str)
        return receipt

    def balance(self, who: LocalSigner | str, lot_id: int) -> int:
        address = who if isinstance(who, str) else who.address
        return int(self.lots.functions.balanceOf(address, lot_id).call())

    def balances(self, lot_ids: Iterable[int]) -> dict[tuple[str, int], int]:
        """Every member's and the stranger's balance of each lot: a before/after snapshot."""
        people = [*self.members.values(), self.stranger]
        return {(p.address, i): self.balance(p, i) for p in people for i in lot_ids}

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
