from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from contracts import settings as chain_settings
from contracts.chain import bind_system, get_web3
from contracts.demo import seed
from contracts.deploy import deploy_system, local_deployer_key
from contracts.node import AnvilNode
from webapp.chain.indexer import ChainIndexer, leader_lock
from webapp.chain.verification import verify_mirror
from webapp.projections.projector import Projector


class Command(BaseCommand):
    help = (
        "Run the local system: chain node, contracts, demo consortium, indexer and web server."
        " Ctrl-C stops everything it started."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web server port")
        parser.add_argument("--node-port", type=int, default=8545)

    def handle(self, *args: Any, **options: Any) -> None:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        call_command("migrate", verbosity=0)
        node = AnvilNode(
            port=options["node_port"],
            state_file=chain_settings.data_dir() / "anvil-state.json",
        )
        web: subprocess.Popen[bytes] | None = None
        with node:
            get_web3.cache_clear()
            w3 = get_web3(node.url)
            settings.CHAIN_RPC_URL = node.url
            manifest, _, deployed = deploy_system(w3, local_deployer_key())
            for name, entry in manifest.contracts.items():
                state = "deployed" if name in deployed else "reused"
                self.stdout.write(f"{name}: {entry['address']} ({state})")
            for line in seed(w3, local_deployer_key(), bind_system(w3, manifest.addresses)) or [
                "demo consortium already seeded"
            ]:
                self.stdout.write(line)

            indexer = ChainIndexer(w3, manifest)
            projector = Projector(manifest.chain_id)
            with leader_lock(manifest.chain_id):
                stored = indexer.run_until_head()
                projector.apply_pending()
                report = verify_mirror(w3, manifest)
                self.stdout.write(
                    f"indexed {stored} new events; verify_mirror: "
                    + ("clean" if report.clean else "DIFFERS")
                    + f" ({report.checked} events checked)"
                )
                web = subprocess.Popen(
                    [sys.executable, "manage.py", "runserver", f"127.0.0.1:{options['port']}",
                     "--noreload"],
                    env={**os.environ, "PROVENANT_RPC_URL": node.url},
                )  # fmt: skip
                base = f"http://127.0.0.1:{options['port']}"
                self.stdout.write(
                    f"chain node {node.url} (chain id {manifest.chain_id})\n"
                    f"indexer health {base}/health/indexer, metrics {base}/metrics\n"
                    "Ctrl-C stops the node, the indexer and the web server."
                )
                try:
                    while True:
                        time.sleep(1)
                        indexer.run_until_head()
                        projector.apply_pending()
                except (KeyboardInterrupt, SystemExit):
                    pass
                finally:
                    if web is not None:
                        web.terminate()
                        web.wait(10)
