"""`v1a` signatures (Standard Webhooks' asymmetric scheme): a subscription that asks for
them signs every request with its Ed25519 key too, beside the HMAC `v1` ones; a receiver
verifies `v1a` with nothing but the published `whpk_` public key (`cryptography`'s
Ed25519), and the `standardwebhooks` package still verifies the `v1` in the same header.
The private key is stored only wrapped by the organisation's key store."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.webapp.portal_subscriptions import NEW, form, member_of, page_of, secret_in, text
from tests.webapp.streams_world import Receiver, Store, json_body, lot_registered, organisation
from tests.webapp.test_streams_api import BASE, Api, create
from webapp.organisations import keys
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.models import AsymmetricKey, Subscription

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _settings(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.KEYSTORE_DIR = tmp_path / "keys"
    settings.KEYSTORE_KDF_ITERATIONS = 2**10
    keys.clear_caches()
    yield
    keys.clear_caches()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


def v1a_verified(public_key: str, body: bytes, headers: dict[str, str]) -> bool:
    """A receiver's own check of `v1a`, with the published key only."""
    assert public_key.startswith("whpk_")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for part in headers["webhook-signature"].split(" "):
        version, _, value = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(value), signed)
            return True
        except InvalidSignature:
            continue
    return False


def test_v1a_verifies_with_the_published_key_beside_v1(receiver: Receiver) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    store = Store()
    for lot in (1, 2, 3):
        store.add("LotRegistered", lot_registered(alpha.org, lot))
    created = create(alpha, receiver, ed25519=True)
    public_key = created["public_key"]
    assert public_key.startswith("whpk_")
    assert json_body(alpha.get(created["url"]))["public_key"] == public_key
    # The private key is kept only wrapped by the organisation's key store.
    row = AsymmetricKey.objects.get()
    assert row.backend == "keystore"
    assert (Path(keys.keystore_file_backend().directory)).exists()
    assert len(bytes(row.wrapped_private_key)) == 40  # AES key wrap of 32 bytes

    assert streams_deliver_due() == 3
    assert receiver.unverified == 0  # `standardwebhooks` verified the v1 of every request
    assert len(receiver.accepted) == 3
    for delivery in receiver.accepted:
        versions = [p.split(",")[0] for p in delivery.headers["webhook-signature"].split(" ")]
        assert versions == ["v1", "v1a"]
        assert v1a_verified(public_key, delivery.raw, delivery.headers)
        # Another key, or another body, does not verify.
        other = "whpk_" + base64.b64encode(b"\x01" * 32).decode()
        assert not v1a_verified(other, delivery.raw, delivery.headers)
        assert not v1a_verified(public_key, delivery.raw + b" ", delivery.headers)


def test_v1a_is_optional_and_can_be_turned_on_and_off(receiver: Receiver) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    store = Store()
    created = create(alpha, receiver)
    assert created["public_key"] == ""
    store.add("LotRegistered", lot_registered(alpha.org, 1))
    streams_deliver_due()
    assert receiver.accepted[-1].headers["webhook-signature"].startswith("v1,")
    assert "v1a," not in receiver.accepted[-1].headers["webhook-signature"]

    turned_on = json_body(alpha.patch(created["url"], {"ed25519": True}))
    public_key = turned_on["public_key"]
    assert public_key.startswith("whpk_")
    # Asking again keeps the key the receiver already trusts.
    assert json_body(alpha.patch(created["url"], {"ed25519": True}))["public_key"] == public_key
    store.add("LotRegistered", lot_registered(alpha.org, 2))
    streams_deliver_due()
    assert v1a_verified(public_key, receiver.accepted[-1].raw, receiver.accepted[-1].headers)

    assert json_body(alpha.patch(created["url"], {"ed25519": False}))["public_key"] == ""
    store.add("LotRegistered", lot_registered(alpha.org, 3))
    streams_deliver_due()
    assert "v1a," not in receiver.accepted[-1].headers["webhook-signature"]
    assert receiver.unverified == 0
    assert len(receiver.accepted) == 3
    # A second subscription of the organisation gets its own key under the same
    # key-encryption key.
    second = json_body(alpha.post(BASE, {"name": "bi", "url": receiver.url, "ed25519": True}))
    assert second["public_key"].startswith("whpk_")
    assert second["public_key"] != public_key
    assert len({k.reference for k in AsymmetricKey.objects.all()}) == 1


def test_the_portal_makes_and_shows_the_public_key(receiver: Receiver) -> None:
    alpha = member_of(organisation("alpha", 0xA1), "alice")
    response = alpha.post(NEW, form(receiver.url, ed25519="on"))
    assert response.status_code == 200
    html = text(response)
    assert secret_in(html).startswith("whsec_")
    subscription = Subscription.objects.get()
    public_key = subscription.asymmetric_key.public_key
    assert f'<code id="public-key">{public_key}</code>' in html
    assert f'<code id="public-key">{public_key}</code>' in text(alpha.get(page_of(subscription)))
    edit = text(alpha.get(f"{page_of(subscription)}/edit"))
    checkbox = re.search(r'<input[^>]*name="ed25519"[^>]*>', edit)
    assert checkbox is not None
    assert "checked" in checkbox.group(0)
