"""A consortium run through the web app: organisations with keystore-file keys,
onboarded by the operator through operations, on a real anvil node and the real database.

`settle()` does what the workers do (submit, track, index and run the consumers) in this
process, so a test can assert each step's outcome.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from web3 import Web3

from contracts.chain.client import LocalSigner
from contracts.chain.deploy import Manifest, deploy_system
from contracts.chain.domain import Role
from webapp.chain.indexer import ChainIndexer
from webapp.chain.pipeline import chain_sync
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send, operation_track
from webapp.organisations.keys import keystore_file_backend
from webapp.organisations.models import Organisation
from webapp.organisations.services import (
    member_invite,
    organisation_adopt_key,
    organisation_create,
    organisation_create_key,
)
from webapp.participants.services import organisation_register

MEMBERS: dict[str, tuple[str, Role]] = {
    "mine": ("Katanga Cobalt Mine", Role.MINER),
    "refinery": ("Nordic Refinery", Role.MANUFACTURER),
    "distributor": ("EuroLogistics", Role.DISTRIBUTOR),
    "retailer": ("City Electronics", Role.RETAILER),
    "certifier": ("Trust Certification", Role.CERTIFIER),
}
PASSWORD = "correct-horse-battery"


@dataclass
class Network:
    w3: Web3
    manifest: Manifest
    orgs: dict[str, Organisation] = field(default_factory=dict)

    @classmethod
    def create(cls, w3: Web3, deployments: Path) -> Network:
        admin = Account.create()
        manifest, _, _ = deploy_system(w3, LocalSigner(admin), directory=deployments)
        net = cls(w3, manifest)
        operator = organisation_create(name="Consortium operator", roles=Role.AUDITOR)
        reference, store = keystore_file_backend().import_key(
            label=operator.slug, private_key=admin.key
        )
        organisation_adopt_key(
            organisation=operator, backend_name="keystore", reference=reference,
            address=store.address,
        )  # fmt: skip
        operator.is_operator = True
        operator.save()
        for slug, (name, role) in MEMBERS.items():
            org = organisation_create(name=name, roles=role, slug=slug)
            organisation_create_key(organisation=org)
            organisation_register(organisation=org)
            member_invite(organisation=org, username=slug, password=PASSWORD)
            net.orgs[slug] = org
        net.settle()
        return net

    def settle(self) -> list[Operation]:
        """Submit every queued operation in order, follow it to its receipt, mirror."""
        touched = []
        for operation in Operation.objects.filter(status=Operation.Status.QUEUED).order_by(
            "created_at"
        ):
            try:
                touched.append(operation_send(operation_id=operation.id))
            except SubmitLater:
                touched.append(operation)
        for operation in Operation.objects.filter(status=Operation.Status.SUBMITTED):
            self._track(operation.id)
        self.index()
        for operation in touched:
            operation.refresh_from_db()
        return touched

    @staticmethod
    def _track(operation_id: uuid.UUID, seconds: float = 10) -> None:
        """Follow one submitted operation. Anvil mines a transaction just after it answers
        the send, so on a busy machine it can still be in the pool: as the worker would,
        look again, for at most `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                operation_track(operation_id=operation_id)
                return
            except SubmitLater:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def index(self) -> None:
        chain_sync(indexer=ChainIndexer(self.w3, self.manifest))
