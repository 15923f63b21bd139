"""A private Mosquitto with the project's config (`mosquitto.conf` here) in a directory of
its own, on a free port: for tests, benches and the demo, beside the machine's broker.

    with MosquittoBroker(directory) as broker:   # files from the registry written first
        ...broker.port...
        broker.restart()                         # same port, same persistence
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

MOSQUITTO = os.environ.get("PROVENANT_MOSQUITTO", "/usr/sbin/mosquitto")
TEMPLATE = Path(__file__).with_name("mosquitto.conf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MosquittoBroker:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.directory / "mosquitto.conf"

    def write_config(self) -> Path:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        for name in ("passwords", "acl"):
            path = self.directory / name
            if not path.exists():
                path.write_text("")
                path.chmod(0o600)
        text = TEMPLATE.read_text().replace("{dir}", str(self.directory))
        if os.geteuid() == 0:  # mosquitto would drop to its own user, who cannot read these
            text = "user root\n" + text
        self.config.write_text(text.replace("{port}", str(self.port)))
        return self.config

    def start(self, *, timeout: float = 10.0) -> MosquittoBroker:
        self.write_config()
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "mosquitto.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mosquitto exited {self.process.returncode}: {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.port} in {timeout}s")

    def reload(self) -> None:
        """Re-read the password file and the ACL (SIGHUP)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop it the clean way (SIGTERM: it writes its persistence file first)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
