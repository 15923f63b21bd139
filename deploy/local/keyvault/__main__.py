"""``python -m deploy.local.keyvault --state-dir DIR [--port N] [--token T]``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from deploy.local.keyvault.server import LocalKeyVault


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.keyvault",
        description="A local HTTPS server speaking the Azure Key Vault keys REST protocol.",
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="certificates and keys")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=None, help="bearer token (default: kept in state dir)")
    parser.add_argument("--managed-hsm", action="store_true", help="answer as a Managed HSM")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    vault = LocalKeyVault(
        args.state_dir,
        host=args.host,
        port=args.port,
        token=args.token,
        managed_hsm=args.managed_hsm,
    ).start()
    print(f"url={vault.url} ca_file={vault.ca_file} token={vault.token}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        vault.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
