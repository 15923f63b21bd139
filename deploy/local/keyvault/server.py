"""The HTTPS server in front of the vault, and :class:`LocalKeyVault`, which runs it in a
thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contracts.custody.keyvault import KeyVaultConfig, StaticTokenCredential
from deploy.local.keyvault.keys import write_private
from deploy.local.keyvault.tls import tls_files
from deploy.local.keyvault.vault import Vault

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK pools connections
    disable_nagle_algorithm = True  # without it every small response waits ~40 ms for an ACK
    timeout = 120  # an idle kept-alive connection is closed after this many seconds
    server_version = "ProvenantLocalKeyVault/1"
    server: _VaultServer

    def setup(self) -> None:
        super().setup()
        # The handshake runs here, in the connection's thread, not in the accept loop.
        self.connection.do_handshake()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        status, payload, headers = self.server.vault.handle(
            self.command,
            url.path,
            parse_qs(url.query),
            self.headers.get("Authorization"),
            body,
            self._base_url(),
        )
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _base_url(self) -> str:
        # Key identifiers name the host the client used, as the vault names its own host.
        host = self.headers.get("Host") or ""
        return f"https://{host}" if re.fullmatch(r"[0-9A-Za-z.\-:\[\]]+", host) else self.server.url

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _VaultServer(ThreadingHTTPServer):
    allow_reuse_address = True  # the outage drill restarts on the same port at once
    daemon_threads = True

    def __init__(self, address: tuple[str, int], vault: Vault, tls: ssl.SSLContext) -> None:
        self.vault, self._tls = vault, tls
        self.url = ""  # set once the port is known
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Cut kept-alive connections: a stopped vault must not keep answering on them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # handshake failures, resets, connections we cut
            log.debug("local Key Vault: connection from %s ended: %s", client_address, error)
            return
        log.exception("local Key Vault: error serving %s", client_address)


class LocalKeyVault:
    """The local stand-in vault: ``with LocalKeyVault(path).start() as vault: ...``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        managed_hsm: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.host, self.port, self.managed_hsm = host, port, managed_hsm
        self._token = token
        self._server: _VaultServer | None = None
        self._thread: threading.Thread | None = None
        self._vault: Vault | None = None
        self._ca_file = self.state_dir / "ca.pem"

    def _load_token(self) -> str:
        """The given token, else the one kept in the state directory (a restarted demo
        server accepts the clients it accepted before), else a new random one."""
        if self._token:
            return self._token
        path = self.state_dir / "token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        write_private(path, token.encode())
        return token

    def _url_host(self) -> str:
        if self.host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if self.host == "::":
            return "[::1]"
        return f"[{self.host}]" if ":" in self.host else self.host

    def start(self) -> LocalKeyVault:
        if self._server is not None:
            return self
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._token = self._load_token()
        hosts = ["localhost", "127.0.0.1", "::1"]
        bare = self._url_host().strip("[]")
        if bare not in hosts:
            hosts.append(bare)
        self._ca_file, cert_file, key_file = tls_files(self.state_dir, hosts)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(cert_file, key_file)
        vault = Vault(self.state_dir / "keys", self._token, managed_hsm=self.managed_hsm)
        vault.load()
        server = _VaultServer((self.host, self.port), vault, tls)
        self.port = server.server_address[1]
        server.url = f"https://{self._url_host()}:{self.port}"
        self._vault, self._server = vault, server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"local-key-vault-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("local Key Vault at %s (state in %s)", self.url, self.state_dir)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalKeyVault:
        return self.start()

    def __exit__(self, *args: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local Key Vault is not running")
        return self._server.url

    @property
    def ca_file(self) -> Path:
        return self._ca_file

    @property
    def token(self) -> str:
        if self._token is None:
            raise RuntimeError("the local Key Vault has not been started")
        return self._token

    @property
    def challenges(self) -> int:
        """How many 401 bearer challenges this server has answered."""
        return self._vault.challenges if self._vault is not None else 0

    def config(self, **overrides: Any) -> KeyVaultConfig:
        """A client configuration for this server (its CA, its token, no resource check)."""
        settings: dict[str, Any] = {
            "vault_url": self.url,
            "credential": StaticTokenCredential(self.token),
            "connection_verify": str(self.ca_file),
            "verify_challenge_resource": False,
            "hardware_protected": self.managed_hsm,
        }
        settings.update(overrides)
        return KeyVaultConfig(**settings)
