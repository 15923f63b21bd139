"""One organisation on a fresh chain, for the benches that queue operations through the
web app's services: anvil started, the database in DATABASE_URL dropped and recreated and
migrated, the system deployed, the organisation registered on chain with `role`. No
workers: operations stay queued (PROVENANT_OPERATIONS_DISPATCH is off), and the pre-flight
simulates from the organisation's address (no signing key is used)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.indexer import recreate_database


@contextmanager
def participant_on_fresh_chain(*, name: str, role: int) -> Iterator[Any]:
    """Yield the organisation (`webapp.organisations.models.Organisation`), Django set up."""
    from deploy.local.node import AnvilNode

    recreate_database(os.environ["DATABASE_URL"])
    with AnvilNode() as node, tempfile.TemporaryDirectory() as tmp:
        os.environ["PROVENANT_RPC_URL"] = node.url
        os.environ["PROVENANT_CHAIN_ID"] = str(node.chain_id)
        os.environ["PROVENANT_DEPLOYMENTS_DIR"] = str(Path(tmp) / "deployments")
        os.environ["PROVENANT_DATA_DIR"] = tmp
        os.environ["PROVENANT_OPERATIONS_DISPATCH"] = "false"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

        from contracts.chain.client import LocalSigner, get_web3, transact
        from contracts.chain.deploy import deploy_system
        from contracts.chain.domain import Role
        from webapp.organisations.services import organisation_create

        w3 = get_web3(node.url)
        admin, member = LocalSigner.create(), LocalSigner.create()
        _, system, _ = deploy_system(w3, admin, directory=Path(tmp) / "deployments")
        register = system.lots.functions.registerParticipant(member.address, role, b"\0" * 32)
        transact(w3, admin, register)
        organisation = organisation_create(name=name, roles=Role(role))
        organisation.address = member.address
        organisation.save(update_fields=["address"])
        yield organisation
