"""A local server that speaks the Azure Key Vault keys REST protocol, for tests, the signing
benchmark and the demo, so the real SDK (azure-keyvault-keys) runs end to end without Azure.

What it shares with the service: HTTPS only (a self-signed CA and server certificate for
``localhost`` / ``127.0.0.1`` are generated into the state directory; clients trust
``ca.pem`` through ``connection_verify``), the bearer challenge (a request without a token
gets ``401`` and a ``WWW-Authenticate: Bearer authorization=…, resource=…`` header, as the
SDK expects before its first real request), ``api-version`` on every call, the JSON shapes
of key bundles, sign / wrapkey / unwrapkey results and ``{"error": {"code",
"message"}}`` errors, versioned key identifiers, and responses that carry public key
material only.

What it is not: a vault. It accepts one static token instead of Entra ID tokens, has no
RBAC, and keeps private keys as plain PEM files (mode 0600) under ``<state-dir>/keys`` so a
restarted server still has them. Never point production at it.

Run it in the foreground with
``python -m contracts.keyvault_local --state-dir DIR [--port N] [--token T]``; it prints
the URL, the CA file and the token on one line and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contracts.keyvault import KeyVaultConfig, StaticTokenCredential

log = logging.getLogger(__name__)

TENANT = "00000000-0000-0000-0000-000000000000"
VAULT_RESOURCE = "https://vault.azure.net"
MANAGED_HSM_RESOURCE = "https://managedhsm.azure.net"
KEY_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")

# curve name -> (curve, signature algorithm, hash of the digest it signs, coordinate size)
_CURVES: dict[str, tuple[ec.EllipticCurve, str, hashes.HashAlgorithm, int]] = {
    "P-256": (ec.SECP256R1(), "ES256", hashes.SHA256(), 32),
    "P-256K": (ec.SECP256K1(), "ES256K", hashes.SHA256(), 32),
    "P-384": (ec.SECP384R1(), "ES384", hashes.SHA384(), 48),
    "P-521": (ec.SECP521R1(), "ES512", hashes.SHA512(), 66),
}
_OAEP: dict[str, hashes.HashAlgorithm] = {
    "RSA-OAEP": hashes.SHA1(),
    "RSA-OAEP-256": hashes.SHA256(),
}
_EC_OPS: tuple[str, ...] = ("sign", "verify")
_RSA_OPS: tuple[str, ...] = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")
# URL segment -> the key_ops entry it needs (the SDK verifies and wraps locally itself)
_OPERATIONS = {"sign": "sign", "wrapkey": "wrapKey", "unwrapkey": "unwrapKey"}


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Fault(400, "BadParameter", f"Property '{what}' is required.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise _Fault(400, "BadParameter", f"Content of '{what}' is not base64url.") from None


def _int_bytes(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write a file only its owner can read; keys are never overwritten in place."""
    target = path.with_name(path.name + ".tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    with os.fdopen(os.open(target, flags, 0o600), "wb") as fh:
        fh.write(data)
    if replace:
        os.replace(target, path)


class _Fault(Exception):
    """An error answer in Key Vault's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- TLS material -------------------------------------------------------------------------


def _san_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _tls_files(state_dir: Path, hosts: Sequence[str]) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server-key.pem): the CA is made once and kept, so clients keep
    trusting the same ca.pem across restarts; the server certificate is issued again when
    it does not cover the host names or is about to expire."""
    ca_file, ca_key_file = state_dir / "ca.pem", state_dir / "ca-key.pem"
    cert_file, key_file = state_dir / "server.pem", state_dir / "server-key.pem"
    now = dt.datetime.now(dt.UTC)
    if ca_file.exists() and ca_key_file.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Provenant local Key Vault CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(
            ca_key_file,
            ca_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            replace=True,
        )
        ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    wanted = set(_san_names(hosts))
    if cert_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        fresh = cert.not_valid_after_utc > now + dt.timedelta(days=1)
        if wanted <= set(san) and fresh and cert.issuer == ca_cert.subject:
            return ca_file, cert_file, key_file
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_file} is not the EC key this server generates")
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(sorted(wanted, key=str)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(
        key_file,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        replace=True,
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_file, cert_file, key_file


# --- keys ---------------------------------------------------------------------------------


@dataclass
class _Key:
    name: str
    version: str
    kty: str
    key_ops: list[str]
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    created: int
    seq: int  # creation order: the newest version is the one a version-less request gets
    crv: str | None = None
    key_size: int | None = None

    def jwk(self, base_url: str) -> dict[str, Any]:
        """The public half only: no "d", "p", "q", "dp", "dq", "qi"."""
        document: dict[str, Any] = {
            "kid": f"{base_url}/keys/{self.name}/{self.version}",
            "kty": self.kty,
            "key_ops": list(self.key_ops),
        }
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            size = _CURVES[str(self.crv)][3]
            numbers = public.public_numbers()
            document.update(
                crv=self.crv,
                x=_b64u(_int_bytes(numbers.x, size)),
                y=_b64u(_int_bytes(numbers.y, size)),
            )
        else:
            rsa_numbers = public.public_numbers()
            document.update(n=_b64u(_int_bytes(rsa_numbers.n)), e=_b64u(_int_bytes(rsa_numbers.e)))
        return document

    def bundle(self, base_url: str) -> dict[str, Any]:
        return {
            "key": self.jwk(base_url),
            "attributes": {
                "enabled": True,
                "created": self.created,
                "updated": self.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
                "exportable": False,
            },
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "kty": self.kty,
            "crv": self.crv,
            "key_size": self.key_size,
            "key_ops": self.key_ops,
            "created": self.created,
            "seq": self.seq,
        }

    def require(self, operation: str) -> None:
        if operation not in self.key_ops:
            raise _Fault(
                403,
                "Forbidden",
                f"Operation {operation} is not permitted on key {self.name}/{self.version} "
                f"(key_ops: {', '.join(self.key_ops)}).",
            )


@dataclass
class _Vault:
    """The protocol and the key state, without HTTP (the handler only moves bytes)."""

    keys_dir: Path
    token: str
    managed_hsm: bool = False
    challenges: int = 0
    _keys: dict[str, dict[str, _Key]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for meta_file in sorted((self.keys_dir / "active").glob("*/*.json")):
            key = _read_key(meta_file)
            self._keys.setdefault(key.name, {})[key.version] = key

    # -- requests --

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        authorization: str | None,
        body: bytes,
        base_url: str,
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        try:
            self._authorise(authorization)
            if not query.get("api-version"):
                raise _Fault(400, "BadParameter", "The 'api-version' query parameter is missing.")
            status, payload = self._route(method, path, body, base_url)
            return status, payload, {}
        except _Fault as fault:
            headers = {"WWW-Authenticate": self.challenge_header} if fault.status == 401 else {}
            return fault.status, {"error": {"code": fault.code, "message": fault.message}}, headers
        except (TypeError, ValueError) as exc:  # a malformed field, e.g. "key_size": "big"
            return 400, {"error": {"code": "BadParameter", "message": str(exc)}}, {}

    @property
    def challenge_header(self) -> str:
        resource = MANAGED_HSM_RESOURCE if self.managed_hsm else VAULT_RESOURCE
        return (
            f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
            f'resource="{resource}"'
        )

    def _authorise(self, authorization: str | None) -> None:
        if not authorization:
            with self._lock:
                self.challenges += 1
            raise _Fault(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.token.encode()
        ):
            with self._lock:
                self.challenges += 1
            raise _Fault(401, "Unauthorized", "The bearer token is not valid for this vault.")

    def _route(
        self, method: str, path: str, body: bytes, base_url: str
    ) -> tuple[int, dict[str, Any] | None]:
        parts = path.split("/")[1:]
        if parts and parts[-1] == "" and len(parts) == 3:
            parts = parts[:2]  # GET /keys/{name}/ : the SDK's "latest version"
        if len(parts) >= 2 and parts[0] == "keys":
            name = parts[1]
            if len(parts) == 3 and parts[2] == "create" and method == "POST":
                return 200, self._create(name, self._json(body), base_url)
            if len(parts) == 2 and method == "GET":
                return 200, self._find(name, "").bundle(base_url)
            if len(parts) == 2 and method == "DELETE":
                return 200, self._delete(name, base_url)
            if len(parts) == 3 and method == "GET":
                return 200, self._find(name, parts[2]).bundle(base_url)
            if len(parts) == 4 and method == "POST" and parts[3] in _OPERATIONS:
                key = self._find(name, parts[2])
                key.require(_OPERATIONS[parts[3]])
                return 200, self._operate(key, parts[3], self._json(body), base_url)
        raise _Fault(404, "NotFound", f"{method} {path} is not an operation of this vault.")

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            raise _Fault(400, "BadParameter", "The request body is not valid JSON.") from None
        if not isinstance(document, dict):
            raise _Fault(400, "BadParameter", "The request body must be a JSON object.")
        return document

    def _find(self, name: str, version: str) -> _Key:
        versions = self._keys.get(name, {})
        key = (
            versions.get(version)
            if version
            else max(versions.values(), key=lambda k: k.seq, default=None)
        )
        if key is None:
            shown = f"{name}/{version}" if version else name
            raise _Fault(
                404, "KeyNotFound", f"A key with (name/id) {shown} was not found in this key vault."
            )
        return key

    def _create(self, name: str, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        if not KEY_NAME.match(name):
            raise _Fault(
                400, "BadParameter", f"Key name {name!r} must match ^[0-9a-zA-Z-]{{1,127}}$."
            )
        kty = request.get("kty")
        if self.managed_hsm and kty not in ("EC-HSM", "RSA-HSM"):
            raise _Fault(
                400, "BadParameter", f"A managed HSM holds EC-HSM and RSA-HSM keys, not {kty}."
            )
        private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        crv: str | None = None
        size: int | None = None
        if kty in ("EC", "EC-HSM"):
            crv = str(request.get("crv") or "P-256")
            if crv not in _CURVES:
                raise _Fault(400, "BadParameter", f"Unsupported curve {crv}.")
            private, allowed = ec.generate_private_key(_CURVES[crv][0]), _EC_OPS
        elif kty in ("RSA", "RSA-HSM"):
            size = int(request.get("key_size") or 2048)
            exponent = int(request.get("public_exponent") or 65537)
            if size not in (2048, 3072, 4096) or exponent != 65537:
                raise _Fault(400, "BadParameter", f"Unsupported RSA key size {size} or exponent.")
            private, allowed = rsa.generate_private_key(exponent, size), _RSA_OPS
        else:
            raise _Fault(400, "BadParameter", f"Unsupported key type {kty!r}.")
        ops = request.get("key_ops") or list(allowed)
        if not isinstance(ops, list) or not set(ops) <= set(allowed):
            raise _Fault(400, "BadParameter", f"key_ops {ops} are not valid for a {kty} key.")
        key = _Key(
            name=name,
            version=uuid.uuid4().hex,
            kty=str(kty),
            key_ops=list(ops),
            private=private,
            created=int(time.time()),
            seq=time.time_ns(),
            crv=crv,
            key_size=size,
        )
        folder = self.keys_dir / "active" / name
        with self._lock:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(
                folder / f"{key.version}.pem",
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            _write_private(folder / f"{key.version}.json", json.dumps(key.metadata()).encode())
            self._keys.setdefault(name, {})[key.version] = key
        return key.bundle(base_url)

    def _delete(self, name: str, base_url: str) -> dict[str, Any]:
        """Delete every version. There is no soft delete here (no recoveryId, so the SDK's
        delete poller finishes at once); the files move aside instead of being erased."""
        latest = self._find(name, "")
        with self._lock:
            self._keys.pop(name)
            aside = self.keys_dir / "deleted" / f"{name}.{time.time_ns()}"
            aside.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.replace(self.keys_dir / "active" / name, aside)
        return {**latest.bundle(base_url), "deletedDate": int(time.time())}

    def _operate(
        self, key: _Key, operation: str, request: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        kid = f"{base_url}/keys/{key.name}/{key.version}"
        alg = request.get("alg")
        private = key.private
        if operation == "sign":
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise _Fault(400, "BadParameter", "This server signs with EC keys only.")
            _, expected_alg, digest_hash, size = _CURVES[str(key.crv)]
            if alg != expected_alg:
                raise _Fault(
                    400, "BadParameter", f"Algorithm {alg} is not valid for a {key.crv} key."
                )
            digest = _unb64u(request.get("value"), "value")
            if len(digest) != digest_hash.digest_size:
                raise _Fault(
                    400, "BadParameter", f"{alg} signs a {digest_hash.digest_size}-byte digest."
                )
            # Key Vault returns raw r||s (JWS form), not the DER that cryptography produces.
            r, s = decode_dss_signature(private.sign(digest, ec.ECDSA(Prehashed(digest_hash))))
            return {"kid": kid, "value": _b64u(_int_bytes(r, size) + _int_bytes(s, size))}
        if not isinstance(private, rsa.RSAPrivateKey):
            raise _Fault(400, "BadParameter", "Key wrapping needs an RSA key.")
        if alg not in _OAEP:
            raise _Fault(400, "BadParameter", f"Unsupported key wrap algorithm {alg}.")
        oaep = padding.OAEP(padding.MGF1(_OAEP[alg]), _OAEP[alg], None)
        value = _unb64u(request.get("value"), "value")
        if operation == "wrapkey":
            return {"kid": kid, "value": _b64u(private.public_key().encrypt(value, oaep))}
        try:
            return {"kid": kid, "value": _b64u(private.decrypt(value, oaep))}
        except ValueError:
            raise _Fault(
                400, "BadParameter", "Unable to decrypt specified value with this key."
            ) from None


def _read_key(meta_file: Path) -> _Key:
    meta = json.loads(meta_file.read_text())
    private = serialization.load_pem_private_key(
        meta_file.with_suffix(".pem").read_bytes(), password=None
    )
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{meta_file.with_suffix('.pem')} is not an EC or RSA key")
    return _Key(
        name=meta_file.parent.name,
        version=meta_file.stem,
        kty=meta["kty"],
        key_ops=list(meta["key_ops"]),
        private=private,
        created=int(meta["created"]),
        seq=int(meta["seq"]),
        crv=meta.get("crv"),
        key_size=meta.get("key_size"),
    )


# --- HTTP ---------------------------------------------------------------------------------


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

    def __init__(self, address: tuple[str, int], vault: _Vault, tls: ssl.SSLContext) -> None:
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
        self._vault: _Vault | None = None
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
        _write_private(path, token.encode())
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
        self._ca_file, cert_file, key_file = _tls_files(self.state_dir, hosts)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(cert_file, key_file)
        vault = _Vault(self.state_dir / "keys", self._token, managed_hsm=self.managed_hsm)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.keyvault_local",
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
