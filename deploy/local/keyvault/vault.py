"""The Key Vault keys protocol and key state, without HTTP (the handler only moves bytes)."""

from __future__ import annotations

import hmac
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from deploy.local.keyvault.keys import (
    CURVES,
    EC_OPS,
    OAEP,
    RSA_OPS,
    Fault,
    Key,
    b64u,
    int_bytes,
    read_key,
    unb64u,
    write_private,
)

TENANT = "00000000-0000-0000-0000-000000000000"
VAULT_RESOURCE = "https://vault.azure.net"
MANAGED_HSM_RESOURCE = "https://managedhsm.azure.net"
KEY_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
# URL segment -> the key_ops entry it needs (the SDK verifies and wraps locally itself)
_OPERATIONS = {"sign": "sign", "wrapkey": "wrapKey", "unwrapkey": "unwrapKey"}


@dataclass
class Vault:
    """The protocol and the key state, without HTTP (the handler only moves bytes)."""

    keys_dir: Path
    token: str
    managed_hsm: bool = False
    challenges: int = 0
    _keys: dict[str, dict[str, Key]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for meta_file in sorted((self.keys_dir / "active").glob("*/*.json")):
            key = read_key(meta_file)
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
                raise Fault(400, "BadParameter", "The 'api-version' query parameter is missing.")
            status, payload = self._route(method, path, body, base_url)
            return status, payload, {}
        except Fault as fault:
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
            raise Fault(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.token.encode()
        ):
            with self._lock:
                self.challenges += 1
            raise Fault(401, "Unauthorized", "The bearer token is not valid for this vault.")

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
        raise Fault(404, "NotFound", f"{method} {path} is not an operation of this vault.")

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            raise Fault(400, "BadParameter", "The request body is not valid JSON.") from None
        if not isinstance(document, dict):
            raise Fault(400, "BadParameter", "The request body must be a JSON object.")
        return document

    def _find(self, name: str, version: str) -> Key:
        versions = self._keys.get(name, {})
        key = (
            versions.get(version)
            if version
            else max(versions.values(), key=lambda k: k.seq, default=None)
        )
        if key is None:
            shown = f"{name}/{version}" if version else name
            raise Fault(
                404, "KeyNotFound", f"A key with (name/id) {shown} was not found in this key vault."
            )
        return key

    def _create(self, name: str, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        if not KEY_NAME.match(name):
            raise Fault(
                400, "BadParameter", f"Key name {name!r} must match ^[0-9a-zA-Z-]{{1,127}}$."
            )
        kty = request.get("kty")
        if self.managed_hsm and kty not in ("EC-HSM", "RSA-HSM"):
            raise Fault(
                400, "BadParameter", f"A managed HSM holds EC-HSM and RSA-HSM keys, not {kty}."
            )
        private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        crv: str | None = None
        size: int | None = None
        if kty in ("EC", "EC-HSM"):
            crv = str(request.get("crv") or "P-256")
            if crv not in CURVES:
                raise Fault(400, "BadParameter", f"Unsupported curve {crv}.")
            private, allowed = ec.generate_private_key(CURVES[crv][0]), EC_OPS
        elif kty in ("RSA", "RSA-HSM"):
            size = int(request.get("key_size") or 2048)
            exponent = int(request.get("public_exponent") or 65537)
            if size not in (2048, 3072, 4096) or exponent != 65537:
                raise Fault(400, "BadParameter", f"Unsupported RSA key size {size} or exponent.")
            private, allowed = rsa.generate_private_key(exponent, size), RSA_OPS
        else:
            raise Fault(400, "BadParameter", f"Unsupported key type {kty!r}.")
        ops = request.get("key_ops") or list(allowed)
        if not isinstance(ops, list) or not set(ops) <= set(allowed):
            raise Fault(400, "BadParameter", f"key_ops {ops} are not valid for a {kty} key.")
        key = Key(
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
            write_private(
                folder / f"{key.version}.pem",
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            write_private(folder / f"{key.version}.json", json.dumps(key.metadata()).encode())
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
        self, key: Key, operation: str, request: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        kid = f"{base_url}/keys/{key.name}/{key.version}"
        alg = request.get("alg")
        private = key.private
        if operation == "sign":
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise Fault(400, "BadParameter", "This server signs with EC keys only.")
            _, expected_alg, digest_hash, size = CURVES[str(key.crv)]
            if alg != expected_alg:
                raise Fault(
                    400, "BadParameter", f"Algorithm {alg} is not valid for a {key.crv} key."
                )
            digest = unb64u(request.get("value"), "value")
            if len(digest) != digest_hash.digest_size:
                raise Fault(
                    400, "BadParameter", f"{alg} signs a {digest_hash.digest_size}-byte digest."
                )
            # Key Vault returns raw r||s (JWS form), not the DER that cryptography produces.
            r, s = decode_dss_signature(private.sign(digest, ec.ECDSA(Prehashed(digest_hash))))
            return {"kid": kid, "value": b64u(int_bytes(r, size) + int_bytes(s, size))}
        if not isinstance(private, rsa.RSAPrivateKey):
            raise Fault(400, "BadParameter", "Key wrapping needs an RSA key.")
        if alg not in OAEP:
            raise Fault(400, "BadParameter", f"Unsupported key wrap algorithm {alg}.")
        oaep = padding.OAEP(padding.MGF1(OAEP[alg]), OAEP[alg], None)
        value = unb64u(request.get("value"), "value")
        if operation == "wrapkey":
            return {"kid": kid, "value": b64u(private.public_key().encrypt(value, oaep))}
        try:
            return {"kid": kid, "value": b64u(private.decrypt(value, oaep))}
        except ValueError:
            raise Fault(
                400, "BadParameter", "Unable to decrypt specified value with this key."
            ) from None
