"""What the portal's subscriptions tests share: two organisations with a member each, a
webhook receiver on loopback, and a subscription made through the portal's form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.webapp.network import PASSWORD
from tests.webapp.streams_world import Receiver, organisation
from webapp.organisations.models import Organisation
from webapp.organisations.services import member_invite
from webapp.streams.models import Subscription

NEW = "/subscriptions/new"


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


def member_of(org: Organisation, username: str, **extra: Any) -> Client:
    member_invite(organisation=org, username=username, password=PASSWORD)
    client = Client(**extra)
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.fixture
def alpha() -> Client:
    return member_of(organisation("alpha", 0xA1), "alice")


@pytest.fixture
def beta() -> Client:
    return member_of(organisation("beta", 0xB2), "bob")


def form(url: str, **extra: Any) -> dict[str, Any]:
    """A create form as a browser sends it (the defaults of the page), with `extra`."""
    return {
        "name": "erp",
        "url": url,
        "start": "oldest",
        "batch_size": "1",
        "batch_timeout_s": "5",
        "confirmations": "0",
        "ordered": "1",
        **extra,
    }


def secret_in(html: str) -> str:
    found = re.search(r'<code id="signing-secret">(whsec_[^<]+)</code>', html)
    assert found, html
    return found.group(1)


def create(client: Client, receiver: Receiver, **extra: Any) -> Subscription:
    """A subscription made through the form; its secret goes to the receiver."""
    response = client.post(NEW, form(receiver.url, **extra))
    assert response.status_code == 200, response.content.decode()
    receiver.secrets.append(secret_in(response.content.decode()))
    return Subscription.objects.order_by("-created_at").first()  # type: ignore[return-value]


def page_of(subscription: Subscription) -> str:
    return f"/subscriptions/{subscription.pk}"


def text(response: Any) -> str:
    return str(response.content.decode())
