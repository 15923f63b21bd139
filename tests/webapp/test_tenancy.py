"""Tenancy: what one organisation may see of another's. Each case is tried as the other
organisation, on a real chain and the real database.

- Operations are their organisation's own: another organisation's operations (and their
  waiting reasons) never show on a lot page, and a lot not yet on chain does not lead to
  another organisation's operation. Nobody sees a server path in a reason.
- Documents: see `webapp.documents.selectors.document_for_reader`.
- Stock: see `webapp.lots.selectors.stock_scope`.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from tests.webapp.network import PASSWORD, Network
from webapp.lots.services import handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.selectors import KEY_STORE_WAIT
from webapp.operations.submitter import SubmitLater, operation_send
from webapp.organisations.keys import clear_caches
from webapp.organisations.services import api_token_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def person(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def api(net: Network, slug: str) -> Client:
    token, _ = api_token_create(organisation=net.orgs[slug], name="erp", scope="read")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def register(net: Network, slug: str = "mine", **kwargs: Any) -> int:
    fields = {"name": "Cobalt ore", "quantity": 1_000, "unit": "kg"} | kwargs
    operation = lot_register(organisation=net.orgs[slug], **fields)
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(operation.lot_id or 0)


# ---------------------------------------------------------------- operations (item 7)


def test_a_lot_page_lists_only_the_viewers_own_operations_and_no_server_path(
    network: Network, portal_settings: Any
) -> None:
    lot_id = register(network)
    waiting = handoff_initiate(
        organisation=network.orgs["mine"],
        lot_id=lot_id,
        receiver=network.orgs["refinery"],
        quantity=10,
    )
    passphrase = portal_settings.KEYSTORE_PASSPHRASE
    portal_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    with pytest.raises(SubmitLater):
        operation_send(operation_id=waiting.id)
    portal_settings.KEYSTORE_PASSPHRASE = passphrase
    clear_caches()
    waiting.refresh_from_db()
    key_dir = str(portal_settings.KEYSTORE_DIR)
    assert key_dir in waiting.waiting_reason  # the stored detail, for administrators

    seen_by_other = person("refinery").get(f"/lots/{lot_id}").content.decode()
    assert "Operations in progress" not in seen_by_other
    assert str(waiting.id) not in seen_by_other and key_dir not in seen_by_other

    owner = person("mine")
    seen_by_owner = owner.get(f"/lots/{lot_id}").content.decode()
    assert "Operations in progress" in seen_by_owner and str(waiting.id) in seen_by_owner
    assert key_dir not in seen_by_owner and escape(KEY_STORE_WAIT) in seen_by_owner
    page = owner.get(f"/operations/{waiting.id}").content.decode()
    assert key_dir not in page and escape(KEY_STORE_WAIT) in page
    status = owner.get(f"/operations/{waiting.id}/status").json()
    assert status["waiting_reason"] == KEY_STORE_WAIT
    for row in (
        api(network, "mine").get(f"/api/v1/operations/{waiting.id}").json(),
        api(network, "mine").get("/api/v1/operations").json()["results"][0],
    ):
        assert row["waiting_reason"] == KEY_STORE_WAIT
    assert api(network, "refinery").get(f"/api/v1/operations/{waiting.id}").status_code == 404


def test_a_lot_not_yet_on_chain_leads_only_its_own_organisation_to_the_operation(
    network: Network,
) -> None:
    queued = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=5, unit="kg")
    lot_id = int(queued.lot_id or 0)

    other = person("refinery").get(f"/lots/{lot_id}")
    assert other.status_code == 404
    assert str(queued.id) not in other.content.decode()

    own = person("mine").get(f"/lots/{lot_id}")
    assert own.status_code == 302 and own["Location"] == f"/operations/{queued.id}"
