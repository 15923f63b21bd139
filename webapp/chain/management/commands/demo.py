from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from contracts.chain import settings as chain_settings
from contracts.chain.client import Signer, bind_system, get_web3
from deploy.local.seed import DISPLAY, LOT_DOCUMENTS, ORGANISATIONS, lot_document, seed
from contracts.chain.deploy import deploy_system, local_deployer_key, local_deployer_private_key
from contracts.chain.domain import Role, canonical_hash
from deploy.local.keyvault import LocalKeyVault
from deploy.local.node import AnvilNode
from deploy.local.softhsm import ensure_token
from webapp.chain import chain_client
from webapp.chain.indexer import ChainIndexer, leader_lock
from webapp.chain.pipeline import chain_sync
from webapp.chain.verification import verify_mirror
from webapp.lots.models import LotMetadata
from webapp.organisations.keys import keystore_file_backend, signing_key
from webapp.organisations.models import Member, Organisation
from webapp.organisations.services import organisation_adopt_key, organisation_create_key

DEMO_PASSWORD = "provenant-demo"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Command(BaseCommand):
    help = (
        "Run the local system: chain node, contracts, demo consortium, portal, REST API and"
        " workers. Ctrl-C stops everything it started."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web server port")
        parser.add_argument("--node-port", type=int, default=8545)
        parser.add_argument(
            "--key-vault-port",
            type=int,
            default=8443,
            help="port of the local Key Vault server (PROVENANT_KEY_BACKEND=keyvault)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        call_command("migrate", verbosity=0)
        node = AnvilNode(
            port=options["node_port"],
            state_file=chain_settings.data_dir() / "anvil-state.json",
        )
        children: list[subprocess.Popen[bytes]] = []
        with contextlib.ExitStack() as stack:
            self._key_store(stack, options["key_vault_port"])
            self._run(node, children, options)

    def _key_store(self, stack: contextlib.ExitStack, vault_port: int) -> None:
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
            self.stdout.write(f"keys in SoftHSM2 token {config.token_label!r} ({data / 'softhsm'})")
        elif settings.KEY_BACKEND == "keyvault" and not settings.AZURE_KEY_VAULT_URL:
            vault = stack.enter_context(LocalKeyVault(data / "keyvault", port=vault_port))
            settings.AZURE_KEY_VAULT_URL = vault.url
            settings.AZURE_KEY_VAULT_CREDENTIAL = f"static:{vault.token}"
            settings.AZURE_KEY_VAULT_CA_FILE = str(vault.ca_file)
            os.environ["PROVENANT_KEY_VAULT_URL"] = vault.url
            os.environ["PROVENANT_KEY_VAULT_CREDENTIAL"] = f"static:{vault.token}"
            os.environ["PROVENANT_KEY_VAULT_CA_FILE"] = str(vault.ca_file)
            self.stdout.write(f"keys in the local Key Vault server {vault.url}")
        else:
            self.stdout.write(f"keys in the {settings.KEY_BACKEND} key store")

    def _run(
        self, node: AnvilNode, children: list[subprocess.Popen[bytes]], options: dict[str, Any]
    ) -> None:
        with node:
            chain_client.cache_clear()
            w3 = get_web3(node.url)
            settings.CHAIN_RPC_URL = node.url
            settings.CHAIN_ID = w3.eth.chain_id
            deployer = local_deployer_key()
            manifest, _, deployed = deploy_system(w3, deployer)
            for name, entry in manifest.contracts.items():
                state = "deployed" if name in deployed else "reused"
                self.stdout.write(f"{name}: {entry['address']} ({state})")
            stores = self._organisations()
            for line in seed(w3, deployer, bind_system(w3, manifest.addresses), stores) or [
                "demo consortium already seeded"
            ]:
                self.stdout.write(line)
            self._metadata(manifest.chain_id)

            with leader_lock(manifest.chain_id):
                stored = chain_sync(indexer=ChainIndexer(w3, manifest)).stored
                report = verify_mirror(w3, manifest)
            self.stdout.write(
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
                self.stdout.write("Celery broker: the local Redis on 127.0.0.1:6379")
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "runserver",
                        f"127.0.0.1:{options['port']}",
                        "--noreload",
                    ],
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
                )
            )
            base = f"http://127.0.0.1:{options['port']}"
            logins = "\n".join(
                f"  {user:<12} {name} ({ORGANISATIONS[slug].name})"
                for slug, (name, user) in DISPLAY.items()
                if slug != "coldchain-sensors"
            )
            self.stdout.write(
                f"\nchain node {node.url} (chain id {manifest.chain_id})\n"
                f"portal      {base}/\n"
                f"API docs    {base}/api/docs/  (schema {base}/api/schema/)\n"
                f"admin       {base}/admin/  (user admin)\n"
                f"health      {base}/health/indexer, metrics {base}/metrics\n"
                f"logins (password {DEMO_PASSWORD}):\n{logins}\n"
                "Ctrl-C stops the node, the workers and the web server."
            )
            try:
                while all(child.poll() is None for child in children):
                    time.sleep(1)
                self.stderr.write("a child process stopped; shutting down")
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

    def _organisations(self) -> dict[str, Signer]:
        """The demo organisations in the database, each with a keystore-file key and a
        person; the operator holds the deployer (consortium admin) key."""
        backend = keystore_file_backend()
        users = get_user_model()
        operator, _ = Organisation.objects.get_or_create(
            slug="consortium-operator",
            defaults={
                "name": "Consortium operator",
                "roles": int(Role.AUDITOR),
                "is_operator": True,
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
        if not users.objects.filter(username="admin").exists():
            users.objects.create_superuser("admin", "", DEMO_PASSWORD)
        stores: dict[str, Signer] = {}
        for slug, role in ORGANISATIONS.items():
            name, username = DISPLAY[slug]
            org, _ = Organisation.objects.get_or_create(
                slug=slug, defaults={"name": name, "roles": int(role)}
            )
            if not org.address:
                organisation_create_key(organisation=org)
            stores[slug] = signing_key(org, org.address)
            if not users.objects.filter(username=username).exists():
                user = users.objects.create_user(username, password=DEMO_PASSWORD)
                Member.objects.create(user=user, organisation=org, is_admin=True)
        return stores

    def _metadata(self, chain_id: int) -> None:
        for lot_id in LOT_DOCUMENTS:
            document = lot_document(lot_id)
            LotMetadata.objects.get_or_create(
                chain_id=chain_id,
                lot_id=lot_id,
                defaults={"document": document, "metadata_hash": canonical_hash(document)},
            )
