"""The local chain node: anvil from node_modules, set up like a free-gas QBFT network.

Fixed chain id, zero gas price and base fee, no minimum tip, the Cancun milestone (as in
deploy/besu's genesis), and instant mining unless a block time is given. With a state file
the chain survives restarts: anvil writes it on SIGTERM and reloads it on start.

``python -m deploy.local.node [--port 8545] [--state var/anvil-state.json] [--block-time 2]``
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from contracts.chain import settings

ANVIL = settings.PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
HARDFORK = "cancun"


class NodeError(RuntimeError):
    """The node binary is missing or the node did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def anvil_command(
    *,
    port: int,
    chain_id: int = settings.LOCAL_CHAIN_ID,
    state_file: Path | None = None,
    block_time: float | None = None,
) -> list[str]:
    if not ANVIL.exists():
        raise NodeError(f"{ANVIL} is missing: run `npm ci` (or `make install`)")
    cmd = [
        str(ANVIL),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--gas-price", "0",
        "--base-fee", "0",
        "--disable-min-priority-fee",
        "--hardfork", HARDFORK,
        "--silent",
    ]  # fmt: skip
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["--state", str(state_file)]
    if block_time:
        cmd += ["--block-time", str(block_time)]
    return cmd


def wait_for_rpc(
    url: str, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NodeError(f"node exited with code {proc.returncode} before answering")
        try:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise NodeError(f"no JSON-RPC answer from {url} within {timeout:.0f} s")


class AnvilNode:
    """A running anvil process; a context manager that stops it (saving its state)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = settings.LOCAL_CHAIN_ID,
        state_file: Path | None = None,
        block_time: float | None = None,
    ) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.cmd = anvil_command(
            port=self.port, chain_id=chain_id, state_file=state_file, block_time=block_time
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AnvilNode:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL)
        try:
            wait_for_rpc(self.url, proc=self.proc)
        except NodeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # anvil saves --state on SIGTERM
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local free-gas chain node (anvil).")
    parser.add_argument("--port", type=int, default=8545)
    parser.add_argument("--chain-id", type=int, default=settings.LOCAL_CHAIN_ID)
    parser.add_argument(
        "--state",
        type=Path,
        default=settings.data_dir() / "anvil-state.json",
        help="state file kept across restarts (default: %(default)s)",
    )
    parser.add_argument("--no-state", action="store_true", help="start an empty chain")
    parser.add_argument("--block-time", type=float, default=None, help="seconds per block")
    args = parser.parse_args(argv)
    node = AnvilNode(
        port=args.port,
        chain_id=args.chain_id,
        state_file=None if args.no_state else args.state,
        block_time=args.block_time,
    )
    # SIGTERM (from `make`, a supervisor or kill) stops anvil too, so it saves its state.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    node.start()
    state = "none" if args.no_state else args.state
    print(f"anvil on {node.url} (chain id {args.chain_id}, state {state}); Ctrl-C stops it")
    try:
        assert node.proc is not None
        return node.proc.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        node.stop()


if __name__ == "__main__":
    sys.exit(main())
