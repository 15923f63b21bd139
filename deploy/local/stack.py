"""The local system behind ``python -m deploy.local.demo``: chain node, contracts, demo
consortium, portal, REST API and worker.

Imports the Django models, so it is imported after ``django.setup()`` (:mod:`.demo` does
that). The node, the Key Vault server or SoftHSM2 token and the demo keys live in the data
directory (PROVENANT_DATA_DIR); Ctrl-C or SIGTERM stops everything started here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from contracts.chain import settings as chain_settings
from contracts.chain.client import Signer, bind_system, get_web3
from contracts.chain.deploy import deploy_system, local_deployer_key, local_deployer_private_key
from contracts.chain.domain import Role, canonical_hash
from deploy.local.keyvault import LocalKeyVault
from deploy.local.mosquitto.broker import MosquittoBroker
from deploy.local.node import AnvilNode
from deploy.local.seed import (
    AUDITOR_LOGIN,
    DISPLAY,
    GS1_IDS,
    LOT_DOCUMENTS,
    ORGANISATIONS,
    PALLET,
    TIME_ZONES,
    gs1_element_string,
    lot_document,
    seed,
)
from deploy.local.simulator import REPORTER
from deploy.local.softhsm import ensure_token
from webapp.chain import chain_client
from webapp.chain.indexer import ChainIndexer, leader_lock
from webapp.chain.pipeline import chain_sync
from webapp.chain.verification import verify_mirror
from webapp.lots.models import LotMetadata
from webapp.monitoring.broker import broker_sync
from webapp.organisations.keys import keystore_file_backend, signing_key
from webapp.organisations.models import Member, Organisation
from webapp.organisations.services import organisation_adopt_key, organisation_create_key
from webapp.projections.models import HandoffVersion

DEMO_PASSWORD = "provenant-demo"
#: ColdChain Sensors' quality manager: clears its alerts (not an admin of it).
QUALITY_LOGIN = "quality"

#: What the demo shows, printed at the start (the simulator's timing and the seeded ids).
STORY = """\
the story (about 3 minutes):
  1. Pallet 401 (chips 301-303, refrigerated) is in handoff {handoff} from EuroLogistics to
     City Electronics, not accepted yet; ColdChain Sensors' logger pallet-logger-1 rides on
     it and publishes signed readings every 3 s over MQTT (about 4 °C).
  2. About a minute in, a door is left open: above 8 °C for 1 minute breaks the rule
     "Pallet 401 cold chain", an alert is raised ({base}/alerts as sensors or quality) and
     chips 301-303 are quarantined on chain within seconds ({base}/lots/301).
  3. As retailer, accept handoff {handoff} on the dashboard (or POST
     {base}/api/v1/handoffs/{handoff}/accept): refused before signing, naming the
     quarantined lots and the alert.
  4. As quality, clear the alert with a reason ({base}/alerts): a clearQuarantine
     operation per lot goes on chain.
  5. As retailer, accept again: it succeeds. The door opens again every 10 minutes."""


@dataclass(frozen=True)
class Ports:
    web: int = 8000
    node: int = 8545
    key_vault: int = 8443
    mqtt: int = 1884


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _nats_answers() -> bool:
    """Whether a NATS server answers on 127.0.0.1:4222 (it greets with INFO)."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5) as sock:
            return sock.recv(16).startswith(b"INFO")
    except OSError:
        return False


def run(ports: Ports, out: TextIO = sys.stdout) -> None:
    """Migrate, start the node, deploy, seed, index, then serve until interrupted."""

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    call_command("migrate", verbosity=0)
    node = AnvilNode(port=ports.node, state_file=chain_settings.data_dir() / "anvil-state.json")
    with contextlib.ExitStack() as stack:
        _key_store(stack, ports.key_vault, say)
        _run(node, ports.web, say, mqtt_port=ports.mqtt)


def _key_store(stack: contextlib.ExitStack, vault_port: int, say: Callable[[str], None]) -> None:
    """With PROVENANT_KEY_BACKEND=pkcs11 or keyvault and nothing else configured, a
    local SoftHSM2 token or a local Key Vault server in the data directory holds the
    demo's keys (the web server and the worker inherit the settings)."""
    data = chain_settings.data_dir()
    if settings.KEY_BACKEND == "pkcs11" and not settings.PKCS11_USER_PIN:
        config = ensure_token(data / "softhsm", label=settings.PKCS11_TOKEN_LABEL)
        settings.PKCS11_LIBRARY, settings.PKCS11_USER_PIN = config.library, config.user_pin
        os.environ["PROVENANT_PKCS11_LIBRARY"] = config.library
        os.environ["PROVENANT_PKCS11_TOKEN_LABEL"] = config.token_label
        os.environ["PROVENANT_PKCS11_USER_PIN"] = config.user_pin
        say(f"keys in SoftHSM2 token {config.token_label!r} ({data / 'softhsm'})")
    elif settings.KEY_BACKEND == "keyvault" and not settings.AZURE_KEY_VAULT_URL:
        vault = stack.enter_context(LocalKeyVault(data / "keyvault", port=vault_port))
        settings.AZURE_KEY_VAULT_URL = vault.url
        settings.AZURE_KEY_VAULT_CREDENTIAL = f"static:{vault.token}"
        settings.AZURE_KEY_VAULT_CA_FILE = str(vault.ca_file)
        os.environ["PROVENANT_KEY_VAULT_URL"] = vault.url
        os.environ["PROVENANT_KEY_VAULT_CREDENTIAL"] = f"static:{vault.token}"
        os.environ["PROVENANT_KEY_VAULT_CA_FILE"] = str(vault.ca_file)
        say(f"keys in the local Key Vault server {vault.url}")
    else:
        say(f"keys in the {settings.KEY_BACKEND} key store")


def _run(node: AnvilNode, port: int, say: Callable[[str], None], *, mqtt_port: int) -> None:
    children: list[subprocess.Popen[bytes]] = []
    broker = MosquittoBroker(chain_settings.data_dir() / "mosquitto", port=mqtt_port)
    with node, contextlib.ExitStack() as services:
        chain_client.cache_clear()
        w3 = get_web3(node.url)
        settings.CHAIN_RPC_URL = node.url
        settings.CHAIN_ID = w3.eth.chain_id
        deployer = local_deployer_key()
        manifest, _, deployed = deploy_system(w3, deployer)
        for name, entry in manifest.contracts.items():
            state = "deployed" if name in deployed else "reused"
            say(f"{name}: {entry['address']} ({state})")
        stores = _organisations()
        for line in seed(w3, deployer, bind_system(w3, manifest.addresses), stores) or [
            "demo consortium already seeded"
        ]:
            say(line)
        _metadata(manifest.chain_id)

        with leader_lock(manifest.chain_id):
            stored = chain_sync(indexer=ChainIndexer(w3, manifest)).stored
            report = verify_mirror(w3, manifest)
        say(
            f"indexed {stored} new events; verify_mirror: "
            + ("clean" if report.clean else "DIFFERS")
            + f" ({report.checked} events checked)"
        )
        env = {
            **os.environ,
            "PROVENANT_RPC_URL": node.url,
            "PROVENANT_CHAIN_ID": str(manifest.chain_id),
        }
        if not settings.REDIS_URL and _redis_answers():
            # kombu's filesystem broker can hand the worker a half-written message
            # (celery/kombu#1551), which stops it: a local Redis is the safer broker.
            env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            say("Celery broker: the local Redis on 127.0.0.1:6379")
        manage = str(chain_settings.PROJECT_ROOT / "manage.py")
        env.update(_device_broker(broker, services))
        try:
            children.append(
                subprocess.Popen(
                    [sys.executable, manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
                    env=env,
                )
            )
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "workers.celery",
                        "worker",
                        "--beat",
                        "--pool=threads",
                        "--concurrency=4",
                        "--loglevel=warning",
                    ],
                    env=env,
                    cwd=chain_settings.PROJECT_ROOT,
                )
            )
            # Live streams (WebSocket, Server-Sent Events) beside the portal.
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "webapp.streams.asgi:app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port + 1),
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    cwd=chain_settings.PROJECT_ROOT,
                )
            )
            if _nats_answers():
                # Every mirrored fact to the JetStream stream PROVENANT (provenant.<chain>.*).
                children.append(
                    subprocess.Popen([sys.executable, manage, "publish_jetstream"], env=env)
                )
                say("JetStream: facts published to stream PROVENANT on 127.0.0.1:4222")
            # Device readings: the ingest, and the demo's cold-chain logger publishing.
            children.append(subprocess.Popen([sys.executable, manage, "ingest_readings"], env=env))
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "deploy.local.simulator", "--port", str(mqtt_port)],
                    env=env,
                    cwd=chain_settings.PROJECT_ROOT,
                )
            )
            base = f"http://127.0.0.1:{port}"
            logins = "\n".join(
                f"  {user:<12} {name} ({ORGANISATIONS[slug].name})"
                for slug, (name, user) in DISPLAY.items()
            )
            logins += f"\n  {QUALITY_LOGIN:<12} ColdChain Sensors' quality manager (clears alerts)"
            logins += f"\n  {AUDITOR_LOGIN:<12} Consortium operator (AUDITOR)"
            say(
                f"\nchain node {node.url} (chain id {manifest.chain_id})\n"
                f"portal      {base}/\n"
                f"API docs    {base}/api/docs/  (schema {base}/api/schema/)\n"
                f"admin       {base}/admin/  (user admin)\n"
                f"health      {base}/health/indexer, metrics {base}/metrics\n"
                f"live streams ws://127.0.0.1:{port + 1}/streams/ws (WebSocket, SSE)\n"
                f"MQTT        127.0.0.1:{mqtt_port} (device readings; alerts at {base}/alerts)\n"
                f"logins (password {DEMO_PASSWORD}):\n{logins}\n"
                + _story(base, _pallet_handoff(manifest.chain_id))
                + "\nCtrl-C stops the node, the workers and the web server."
            )
            while all(child.poll() is None for child in children):
                time.sleep(1)
            say("a child process stopped; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()


def _device_broker(broker: MosquittoBroker, services: contextlib.ExitStack) -> dict[str, str]:
    """Start the project's Mosquitto for device readings (its password file and ACL written
    from the device registry first); the settings the ingest and the portal need for it."""
    password = secrets.token_urlsafe(24)
    settings.MQTT_BROKER_DIR = str(broker.directory)
    settings.MQTT_PORT = broker.port
    settings.MQTT_INGEST_PASSWORD = password
    broker.write_config()
    broker_sync()
    services.enter_context(broker)
    return {
        "PROVENANT_MQTT_BROKER_DIR": str(broker.directory),
        "PROVENANT_MQTT_PORT": str(broker.port),
        "PROVENANT_MQTT_INGEST_PASSWORD": password,
    }


def _organisations() -> dict[str, Signer]:
    """The demo organisations in the database, each with a keystore-file key and a
    person; the operator holds the deployer (consortium admin) key."""
    backend = keystore_file_backend()
    operator, _ = Organisation.objects.get_or_create(
        slug="consortium-operator",
        defaults={
            "name": "Consortium operator",
            "roles": int(Role.AUDITOR),
            "is_operator": True,
            "time_zone": "UTC",
        },
    )
    if not operator.address:
        reference, store = backend.import_key(
            label=operator.slug, private_key=local_deployer_private_key()
        )
        organisation_adopt_key(
            organisation=operator,
            backend_name="keystore",
            reference=reference,
            address=store.address,
        )
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "", DEMO_PASSWORD)
    if not User.objects.filter(username=AUDITOR_LOGIN).exists():
        auditor = User.objects.create_user(AUDITOR_LOGIN, password=DEMO_PASSWORD)
        Member.objects.create(user=auditor, organisation=operator, is_admin=False)
    stores: dict[str, Signer] = {}
    for slug, role in ORGANISATIONS.items():
        name, username = DISPLAY[slug]
        org, _ = Organisation.objects.get_or_create(
            slug=slug, defaults={"name": name, "roles": int(role), "time_zone": TIME_ZONES[slug]}
        )
        if not org.gs1_company_prefix:
            org.gs1_company_prefix, org.gln = GS1_IDS[slug]
            org.save(update_fields=["gs1_company_prefix", "gln"])
        if not org.address:
            organisation_create_key(organisation=org)
        stores[slug] = signing_key(org, org.address)
        if not User.objects.filter(username=username).exists():
            user = User.objects.create_user(username, password=DEMO_PASSWORD)
            Member.objects.create(user=user, organisation=org, is_admin=True)
    _quality_manager()
    return stores


def _quality_manager() -> None:
    """ColdChain Sensors' quality manager: a member holding `monitoring.clear_alert`."""
    if User.objects.filter(username=QUALITY_LOGIN).exists():
        return
    user = User.objects.create_user(QUALITY_LOGIN, password=DEMO_PASSWORD)
    Member.objects.create(
        user=user, organisation=Organisation.objects.get(slug=REPORTER), is_admin=False
    )
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="monitoring", codename="clear_alert")
    )


def _story(base: str, handoff: str) -> str:
    story = STORY.format(base=base, handoff=handoff)
    if handoff == "?":
        story += (
            "\n  (the pallet's handoff was answered in an earlier session: stop, remove the"
            " data directory (make clean) and start again to replay the story)"
        )
    return story


def _pallet_handoff(chain_id: int) -> str:
    """The pallet's open handoff to the retailer, as the mirror shows it ("?" once answered)."""
    handoff = (
        HandoffVersion.objects.filter(
            chain_id=chain_id, lot_id=PALLET, status="open", block_to__isnull=True
        )
        .values_list("handoff_id", flat=True)
        .first()
    )
    return "?" if handoff is None else str(handoff)


def _metadata(chain_id: int) -> None:
    for lot_id in LOT_DOCUMENTS:
        document = lot_document(lot_id)
        LotMetadata.objects.get_or_create(
            chain_id=chain_id,
            lot_id=lot_id,
            defaults={
                "document": document,
                "metadata_hash": canonical_hash(document),
                # Bundles keep their SSCC in the document only, as the web app's do.
                "gs1_key": key if (key := gs1_element_string(lot_id)).startswith("(01)") else "",
            },
        )
