"""A webhook over HTTPS: the sender connects to the address the SSRF check resolved and
checks the receiver's certificate for the URL's host name (SNI and hostname check)."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.webapp.streams_world import T0, Receiver, Store, lot_registered, organisation
from webapp.streams import sender, ssrf
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.models import DeliveryAttempt
from webapp.streams.services import Start, subscription_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (it is its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{host}.pem", directory / f"{host}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Receiver, Path]]:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    cert, key = certificate(tmp_path, "hooks.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # hooks.test is this machine, and its certificate is trusted (as a CA bundle would).
    monkeypatch.setattr(ssrf, "_resolve", lambda host, port: ["127.0.0.1"])
    monkeypatch.setattr(sender.certifi, "where", lambda: str(cert))
    sender._pools.clear()
    receiver = Receiver().up(tls=context)
    yield receiver, cert
    receiver.down()
    sender._pools.clear()


def test_a_webhook_goes_over_https_to_the_checked_address_with_the_hosts_certificate(
    tls_receiver: tuple[Receiver, Path],
) -> None:
    receiver, _ = tls_receiver
    store = Store()
    event = store.add("LotRegistered", lot_registered(organisation("beta", 0xB2), 1))
    created = subscription_create(
        organisation=organisation("alpha", 0xA1),
        name="erp",
        url=f"https://hooks.test:{receiver.port}/hooks",
        start=Start("oldest"),
        filters={},
        options={},
        now=T0,
    )
    receiver.secrets.append(created.secret)
    streams_deliver_due(now=T0)
    assert receiver.sequences() == [event.pk]


def test_a_certificate_for_another_host_is_refused(
    tls_receiver: tuple[Receiver, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, _ = tls_receiver
    other, _ = certificate(tmp_path, "elsewhere.test")
    monkeypatch.setattr(sender.certifi, "where", lambda: str(other))
    store = Store()
    store.add("LotRegistered", lot_registered(organisation("beta", 0xB2), 1))
    created = subscription_create(
        organisation=organisation("alpha", 0xA1),
        name="erp",
        url=f"https://hooks.test:{receiver.port}/hooks",
        start=Start("oldest"),
        filters={},
        options={},
        now=T0,
    )
    receiver.secrets.append(created.secret)
    streams_deliver_due(now=T0)
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status == DeliveryAttempt.Status.FAILED
    assert "certificate" in attempt.error.lower() or "ssl" in attempt.error.lower()
