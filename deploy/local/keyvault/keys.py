"""The keys as the local vault keeps them: PEM files (mode 0600) with a JSON metadata file
per version, their public JWK and bundle shapes, and errors in Key Vault's shape.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# curve name -> (curve, signature algorithm, hash of the digest it signs, coordinate size)
CURVES: dict[str, tuple[ec.EllipticCurve, str, hashes.HashAlgorithm, int]] = {
    "P-256": (ec.SECP256R1(), "ES256", hashes.SHA256(), 32),
    "P-256K": (ec.SECP256K1(), "ES256K", hashes.SHA256(), 32),
    "P-384": (ec.SECP384R1(), "ES384", hashes.SHA384(), 48),
    "P-521": (ec.SECP521R1(), "ES512", hashes.SHA512(), 66),
}
OAEP: dict[str, hashes.HashAlgorithm] = {
    "RSA-OAEP": hashes.SHA1(),
    "RSA-OAEP-256": hashes.SHA256(),
}
EC_OPS: tuple[str, ...] = ("sign", "verify")
RSA_OPS: tuple[str, ...] = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Fault(400, "BadParameter", f"Property '{what}' is required.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise Fault(400, "BadParameter", f"Content of '{what}' is not base64url.") from None


def int_bytes(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write a file only its owner can read; keys are never overwritten in place."""
    target = path.with_name(path.name + ".tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    with os.fdopen(os.open(target, flags, 0o600), "wb") as fh:
        fh.write(data)
    if replace:
        os.replace(target, path)


class Fault(Exception):
    """An error answer in Key Vault's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Key:
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
            size = CURVES[str(self.crv)][3]
            numbers = public.public_numbers()
            document.update(
                crv=self.crv,
                x=b64u(int_bytes(numbers.x, size)),
                y=b64u(int_bytes(numbers.y, size)),
            )
        else:
            rsa_numbers = public.public_numbers()
            document.update(n=b64u(int_bytes(rsa_numbers.n)), e=b64u(int_bytes(rsa_numbers.e)))
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
            raise Fault(
                403,
                "Forbidden",
                f"Operation {operation} is not permitted on key {self.name}/{self.version} "
                f"(key_ops: {', '.join(self.key_ops)}).",
            )


def read_key(meta_file: Path) -> Key:
    meta = json.loads(meta_file.read_text())
    private = serialization.load_pem_private_key(
        meta_file.with_suffix(".pem").read_bytes(), password=None
    )
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{meta_file.with_suffix('.pem')} is not an EC or RSA key")
    return Key(
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
