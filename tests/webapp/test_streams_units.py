"""Standard Webhooks signing checked by the `standardwebhooks` package, and the SSRF guard
on webhook destinations (resolution faked: no network)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from webapp.streams.delivery import message_id
from webapp.streams.signing import secret_generate, signed_headers
from webapp.streams.ssrf import DestinationRefused, destination_check

pytestmark = pytest.mark.unit


def test_a_secret_is_whsec_and_at_least_24_random_bytes() -> None:
    secret = secret_generate()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert secret != secret_generate()


def test_the_signature_verifies_with_the_standardwebhooks_package_under_either_secret() -> None:
    old, new = secret_generate(), secret_generate()
    body = b'{"type":"LotRegistered","data":{"id":"evt_1"}}'
    headers = signed_headers(
        secrets=[new, old], message_id="evt_1", timestamp=int(time.time()), body=body
    )
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {
            "type": "LotRegistered",
            "data": {"id": "evt_1"},
        }
    with pytest.raises(Exception, match="signature"):
        Webhook(secret_generate()).verify(body, headers)


def test_a_batch_id_is_stable_and_names_its_first_and_last_events() -> None:
    payloads = [{"id": "evt_a"}, {"id": "evt_b"}, {"id": "evt_c"}]
    first = message_id(payloads, batch=True, kind="events")
    assert first == message_id(
        [payloads[0], {"id": "evt_x"}, payloads[2]], batch=True, kind="events"
    )
    assert first != message_id(payloads[:2], batch=True, kind="events")
    assert message_id(payloads[:1], batch=False, kind="events") == "evt_a"
    assert message_id(payloads[:1], batch=False, kind="retractions") == "evt_a_retracted"


def resolver(*addresses: str) -> Any:
    return lambda host, port: list(addresses)


@pytest.fixture
def strict(settings: Any) -> Any:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = False
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    return settings


def test_https_to_a_public_address_is_allowed(strict: Any) -> None:
    found = destination_check("https://hooks.example.com/in?x=1", resolve=resolver("93.184.216.34"))
    assert (found.host, found.port, found.target) == ("hooks.example.com", 443, "/in?x=1")
    assert found.addresses == ("93.184.216.34",)


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("http://hooks.example.com/", ["93.184.216.34"], "https://"),
        ("ftp://hooks.example.com/", ["93.184.216.34"], "https://"),
        ("https://user:pw@hooks.example.com/", ["93.184.216.34"], "user name"),
        ("https://intranet.example.com/", ["10.1.2.3"], "private"),
        ("https://metadata.example.com/", ["169.254.169.254"], "private"),
        ("https://mixed.example.com/", ["93.184.216.34", "192.168.1.4"], "192.168.1.4"),
        ("https://localhost/", ["127.0.0.1"], "loopback"),
        ("https://v6.example.com/", ["::1"], "loopback"),
        ("https://mapped.example.com/", ["::ffff:10.0.0.1"], "10.0.0.1"),
        ("https://zero.example.com/", ["0.0.0.0"], "private"),
        ("https:///nohost", [], "no host"),
        ("https://nothing.example.com/", [], "does not resolve"),
    ],
)
def test_unsafe_destinations_are_refused_with_the_reason(
    strict: Any, url: str, addresses: list[str], reason: str
) -> None:
    with pytest.raises(DestinationRefused, match=reason):
        destination_check(url, resolve=resolver(*addresses))


def test_http_to_loopback_only_when_the_operator_allows_it(strict: Any) -> None:
    with pytest.raises(DestinationRefused):
        destination_check("http://127.0.0.1:8080/h", resolve=resolver("127.0.0.1"))
    strict.STREAMS_ALLOW_HTTP_LOOPBACK = True
    assert destination_check("http://127.0.0.1:8080/h", resolve=resolver("127.0.0.1")).port == 8080
    with pytest.raises(DestinationRefused, match="https://"):
        destination_check("http://hooks.example.com/", resolve=resolver("93.184.216.34"))


def test_a_private_network_the_operator_allows_is_reachable(strict: Any) -> None:
    strict.STREAMS_ALLOWED_PRIVATE_NETWORKS = ["10.20.0.0/16"]
    assert destination_check("https://erp.corp/", resolve=resolver("10.20.3.4")).addresses == (
        "10.20.3.4",
    )
    with pytest.raises(DestinationRefused):
        destination_check("https://erp.corp/", resolve=resolver("10.21.3.4"))
