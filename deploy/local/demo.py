"""Run the local system: chain node, contracts, demo consortium, portal, REST API and worker.

``python -m deploy.local.demo [--port 8000] [--node-port 8545] [--key-vault-port 8443]
[--mqtt-port 1884]``
(what ``make demo`` runs). PROVENANT_KEY_BACKEND=keystore|pkcs11|keyvault picks where the
demo's keys live; with pkcs11 or keyvault and nothing else configured, a local SoftHSM2
token or a local Key Vault server in the data directory stands in. Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import argparse
import os

import django


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="web server port")
    parser.add_argument("--node-port", type=int, default=8545, help="chain node port")
    parser.add_argument(
        "--key-vault-port",
        type=int,
        default=8443,
        help="port of the local Key Vault server (PROVENANT_KEY_BACKEND=keyvault)",
    )
    parser.add_argument(
        "--mqtt-port", type=int, default=1884, help="port of the demo's MQTT broker (Mosquitto)"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from webapp.startup import restore_recursion_limit

    restore_recursion_limit()
    django.setup()
    # The stack imports the Django models, which need the app registry set up first.
    from deploy.local.stack import Ports, run

    run(
        Ports(
            web=args.port, node=args.node_port, key_vault=args.key_vault_port, mqtt=args.mqtt_port
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
