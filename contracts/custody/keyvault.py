"""Azure Key Vault as a key store: organisation keys that sign inside the vault.

An organisation's secp256k1 key is created in the vault (``EC`` on curve ``P-256K``, or
``EC-HSM`` on a Premium vault / Managed HSM) and never leaves it: the process holds the
key's identifier and its public half, asks the vault for an ``ES256K`` signature over each
32-byte digest and turns the raw (r, s) into an Ethereum signature (EIP-2 low s, v by
recovery). Personal-data keys are wrapped the same way with an RSA key (``RSA-OAEP-256``):
the SDK wraps locally with the public key, only unwrapping reaches the vault.

Production settings
-------------------
- Vault URL: ``https://<name>.vault.azure.net`` (Key Vault; Premium tier for HSM-protected
  keys) or ``https://<name>.managedhsm.azure.net`` (Managed HSM, set ``hardware_protected``).
- Credential: ``azure.identity.DefaultAzureCredential()`` (setting value ``"default"``):
  managed identity or workload identity on Azure, otherwise the environment variables
  ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_CLIENT_SECRET`` of a service principal.
- Roles (Azure RBAC on the vault, or Managed HSM local RBAC): the web and worker identities
  need "Key Vault Crypto User" (get, sign, wrap, unwrap); creating keys (enrolling an
  organisation, a new wrapping key) needs "Key Vault Crypto Officer". Nobody needs a role
  that exports keys: private keys never leave the vault.
- ``connection_verify`` stays ``True`` against Azure; a CA file is only for the local
  stand-in (:mod:`deploy.local.keyvault`), as is ``verify_challenge_resource=False``.

Every failure to reach or authenticate with the vault raises
:class:`~contracts.custody.keystore.KeyStoreUnavailable`, so callers keep their work queued.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import (
    AccessToken,
    AccessTokenInfo,
    TokenCredential,
    TokenRequestOptions,
)
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.keyvault.keys import KeyClient, KeyCurveName, KeyOperation, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm, SignatureAlgorithm
from eth_keys.datatypes import PublicKey, Signature
from eth_typing import ChecksumAddress

from contracts.custody.keystore import (
    DigestKeyStore,
    KeyStoreUnavailable,
    WrappedKeyInvalid,
    normalise_signature,
)

#: Key Vault's rule for key names.
KEY_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_VERSION = re.compile(r"^[0-9a-zA-Z]{1,64}$")
_EC_TYPES = ("EC", "EC-HSM")
_RSA_TYPES = ("RSA", "RSA-HSM")
_SECP256K1_NAMES = ("P-256K", "SECP256K1")  # "SECP256K1" is the 2016-10-01 API's name


class StaticTokenCredential:
    """A fixed bearer token (the local stand-in vault accepts one token; never for Azure)."""

    def __init__(self, token: str, expires_in: int = 3600) -> None:
        if not token:
            raise ValueError("a static credential needs a token")
        self._token = token
        self._expires_in = expires_in

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._expires_in)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + self._expires_in)

    def close(self) -> None:
        pass

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def __repr__(self) -> str:
        return "StaticTokenCredential(<token>)"


def credential_from_setting(value: str) -> TokenCredential:
    """The credential a setting names: ``"default"`` is azure-identity's
    DefaultAzureCredential (managed identity, workload identity, service principal from the
    environment); ``"static:<token>"`` is a fixed token for the local stand-in vault."""
    value = value.strip()
    if value == "default":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    if value.startswith("static:") and value.removeprefix("static:"):
        return StaticTokenCredential(value.removeprefix("static:"))
    raise ValueError(
        f"Key Vault credential setting {value[:12]!r}…: expected 'default' or 'static:<token>'"
    )


def _authority(url: str) -> str:
    """host[:port] in lower case, with the default HTTPS port dropped (how the vault and the
    SDK's challenge cache compare hosts)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return host if port in (None, 443) else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class KeyVaultConfig:
    """Where the vault is and how to talk to it.

    ``retry_total`` and the timeouts are deliberately short next to the SDK's defaults (10
    retries, 300 s): a signature that cannot be had in seconds is better reported as
    KeyStoreUnavailable, since the caller keeps the work queued and tries again.
    """

    vault_url: str
    credential: Any  # a TokenCredential (azure-identity, or StaticTokenCredential)
    connection_verify: str | bool = True
    verify_challenge_resource: bool = True
    hardware_protected: bool = False
    retry_total: int = 3
    connection_timeout: float = 5.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.vault_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"a Key Vault URL is https://<host>, got {self.vault_url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"a Key Vault URL has no path, got {self.vault_url!r}")
        object.__setattr__(self, "vault_url", self.vault_url.rstrip("/"))

    @classmethod
    def from_settings(
        cls,
        *,
        url: str,
        credential: str = "default",
        ca_file: str = "",
        hsm: bool = False,
        verify_challenge_resource: bool | None = None,
    ) -> KeyVaultConfig:
        """A configuration from plain setting values. The challenge resource is verified
        (the SDK refuses to send a token to a host outside the vault's domain) unless the
        vault is on a loopback address, which only the local stand-in is."""
        if verify_challenge_resource is None:
            verify_challenge_resource = not _is_loopback(urlsplit(url).hostname or "")
        return cls(
            vault_url=url,
            credential=credential_from_setting(credential),
            connection_verify=ca_file or True,
            verify_challenge_resource=verify_challenge_resource,
            hardware_protected=hsm,
        )

    @property
    def authority(self) -> str:
        return _authority(self.vault_url)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for KeyClient and CryptographyClient (after url and credential)."""
        return {
            "connection_verify": self.connection_verify,
            "verify_challenge_resource": self.verify_challenge_resource,
            "retry_total": self.retry_total,
            "connection_timeout": self.connection_timeout,
            "read_timeout": self.read_timeout,
        }

    def key_client(self) -> KeyClient:
        return KeyClient(self.vault_url, self.credential, **self.client_kwargs())


def key_name_for(label: str) -> str:
    """A valid Key Vault key name for a label, the same every time: a label that already is
    one is kept; otherwise invalid runs become "-" and a hash of the label is appended, so
    "acme_mining.2" and "acme-mining-2" do not end up as versions of one key."""
    if not label:
        raise ValueError("a key label cannot be empty")
    if KEY_NAME.match(label):
        return label
    cleaned = re.sub(r"[^0-9a-zA-Z-]+", "-", label).strip("-")[:118] or "key"
    return f"{cleaned}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def parse_key_reference(reference: str, config: KeyVaultConfig) -> tuple[str, str]:
    """(name, version) of a versioned key identifier on the configured vault, or ValueError.

    A reference pins a version: a new version of the name (a rotation) must not silently
    change an organisation's address or the key that opens existing wrapped data keys.
    """
    expected = f"https://{config.authority}/keys/<name>/<version>"
    try:
        parts = urlsplit(reference)
        authority = _authority(reference)
    except ValueError:
        raise ValueError(f"{reference!r} is not a Key Vault key identifier ({expected})") from None
    if parts.scheme != "https" or parts.query or parts.fragment:
        raise ValueError(f"{reference!r} is not a Key Vault key identifier ({expected})")
    if authority != config.authority:
        raise ValueError(
            f"{reference!r} is a key on {authority or 'no host'}, not on the configured vault "
            f"{config.vault_url}"
        )
    segments = parts.path.split("/")
    if (
        len(segments) != 4
        or segments[0] != ""
        or segments[1] != "keys"
        or not KEY_NAME.match(segments[2])
        or not _VERSION.match(segments[3])
    ):
        raise ValueError(f"{reference!r} is not a versioned key identifier ({expected})")
    return segments[2], segments[3]


def _reason(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None) or exc.message or str(exc)
    return str(message).splitlines()[0]


@contextmanager
def _vault_call(
    config: KeyVaultConfig, action: str, *, refused: type[Exception] = ValueError
) -> Iterator[None]:
    """Translate the SDK's errors: anything that means "the vault cannot do it right now"
    (unreachable, authentication, authorisation, throttling, 5xx, key missing) becomes
    KeyStoreUnavailable; a request the vault refuses as bad becomes ``refused``."""
    vault = config.vault_url
    try:
        yield
    except HttpResponseError as exc:
        status = exc.status_code
        if isinstance(exc, ClientAuthenticationError) or status == 401:
            # 401 from the vault, or azure-identity failing to get a token at all
            raise KeyStoreUnavailable(
                f"Key Vault {vault}: authentication failed while {action}: {_reason(exc)}"
            ) from exc
        if status == 403:
            raise KeyStoreUnavailable(
                f"Key Vault {vault}: access denied while {action} (HTTP 403: {_reason(exc)}); "
                "the identity needs the Key Vault Crypto User role"
            ) from exc
        if status == 404:
            raise KeyStoreUnavailable(
                f"Key Vault {vault}: the key was not found while {action} ({_reason(exc)})"
            ) from exc
        if status is None or status == 429 or status >= 500:
            raise KeyStoreUnavailable(
                f"Key Vault {vault} answered HTTP {status} while {action}: {_reason(exc)}"
            ) from exc
        raise refused(
            f"Key Vault {vault} refused {action} (HTTP {status}): {_reason(exc)}"
        ) from exc
    except AzureError as exc:  # ServiceRequestError, ServiceResponseError, timeouts
        raise KeyStoreUnavailable(
            f"Key Vault {vault} cannot be reached while {action}: {_reason(exc)}"
        ) from exc
    except OSError as exc:  # e.g. an unreadable CA file
        raise KeyStoreUnavailable(f"Key Vault {vault}: {exc} while {action}") from exc


def _jwk(key: KeyVaultKey, field: str) -> Any:
    value = getattr(key.key, field, None)  # JsonWebKey sets its fields dynamically
    return getattr(value, "value", value)  # str enums (KeyType.ec) as their plain value


def _check_secp256k1(key: KeyVaultKey) -> None:
    kty, crv = _jwk(key, "kty"), _jwk(key, "crv")
    if kty not in _EC_TYPES or crv not in _SECP256K1_NAMES:
        raise ValueError(
            f"Key Vault key {key.id} is {kty} {crv or ''}; an Ethereum signing key is EC on P-256K"
        )
    if not _jwk(key, "x") or not _jwk(key, "y"):
        raise ValueError(f"Key Vault key {key.id} came without its public point")


def _check_rsa(key: KeyVaultKey) -> None:
    kty = _jwk(key, "kty")
    if kty not in _RSA_TYPES or not _jwk(key, "n"):
        raise ValueError(f"Key Vault key {key.id} is {kty}; a wrapping key is RSA")


class _VaultKey:
    """One vault key as this process sees it: the public JWK, fetched once, and a
    CryptographyClient per process. Web and Celery workers fork; a child must not share the
    parent's pooled TLS connections, so a changed pid means new clients."""

    def __init__(
        self,
        key_id: str,
        config: KeyVaultConfig,
        check: Callable[[KeyVaultKey], None],
        key: KeyVaultKey | None = None,
    ) -> None:
        self.name, self.version = parse_key_reference(key_id, config)
        self.key_id = key_id
        self.config = config
        self._check = check
        if key is not None:
            check(key)
        self._key = key
        self._client: tuple[int, CryptographyClient] | None = None
        self._lock = threading.Lock()

    def key(self) -> KeyVaultKey:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    with (
                        self.config.key_client() as client,
                        _vault_call(self.config, f"reading key {self.name}"),
                    ):
                        key = client.get_key(self.name, self.version)
                    self._check(key)
                    self._key = key
        return self._key

    def crypto(self) -> CryptographyClient:
        pid = os.getpid()
        current = self._client
        if current is not None and current[0] == pid:
            return current[1]
        key = self.key()
        with self._lock:
            if self._client is None or self._client[0] != pid:
                # Built from the fetched key, the client verifies and wraps locally with the
                # public half and never needs to GET the key again.
                client = CryptographyClient(
                    key, self.config.credential, **self.config.client_kwargs()
                )
                self._client = (pid, client)
            return self._client[1]


class KeyVaultKeyStore(DigestKeyStore):
    """An organisation's secp256k1 key held in Azure Key Vault (EC P-256K / EC-HSM)."""

    backend = "azure-keyvault"

    def __init__(
        self, key_id: str, config: KeyVaultConfig, *, key: KeyVaultKey | None = None
    ) -> None:
        self._vault_key = _VaultKey(key_id, config, _check_secp256k1, key)
        self._address: ChecksumAddress | None = None

    @property
    def reference(self) -> str:
        return self._vault_key.key_id

    @property
    def address(self) -> ChecksumAddress:
        if self._address is None:
            key = self._vault_key.key()
            point = bytes(_jwk(key, "x")).rjust(32, b"\0") + bytes(_jwk(key, "y")).rjust(32, b"\0")
            self._address = PublicKey(point).to_checksum_address()
        return self._address

    def sign_digest(self, digest: bytes) -> Signature:
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
        address = self.address
        client = self._vault_key.crypto()
        with _vault_call(self._vault_key.config, f"signing with key {self._vault_key.name}"):
            raw = client.sign(SignatureAlgorithm.es256_k, digest).signature
        if len(raw) != 64:
            raise KeyStoreUnavailable(
                f"Key Vault {self._vault_key.config.vault_url} returned a {len(raw)}-byte "
                "ES256K signature; expected r‖s, 64 bytes"
            )
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        return normalise_signature(digest, r, s, address)

    def __repr__(self) -> str:
        return f"KeyVaultKeyStore({self.reference!r})"


class KeyVaultWrapper:
    """A key-encryption key in the vault (RSA, RSA-OAEP-256) for envelope encryption."""

    algorithm = KeyWrapAlgorithm.rsa_oaep_256

    def __init__(
        self, key_id: str, config: KeyVaultConfig, *, key: KeyVaultKey | None = None
    ) -> None:
        self._vault_key = _VaultKey(key_id, config, _check_rsa, key)

    @property
    def reference(self) -> str:
        return self._vault_key.key_id

    def wrap(self, data_key: bytes) -> bytes:
        client = self._vault_key.crypto()
        with _vault_call(self._vault_key.config, f"wrapping with key {self._vault_key.name}"):
            return bytes(client.wrap_key(self.algorithm, data_key).encrypted_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        client = self._vault_key.crypto()
        action = f"unwrapping with key {self._vault_key.name}"
        # The vault answers 400 for a blob its key cannot open (altered, or another key's).
        with _vault_call(self._vault_key.config, action, refused=WrappedKeyInvalid):
            return bytes(client.unwrap_key(self.algorithm, wrapped).key)

    def __repr__(self) -> str:
        return f"KeyVaultWrapper({self.reference!r})"


class KeyVaultBackend:
    """Creates and opens keys in one vault; references are versioned key identifiers."""

    backend = "azure-keyvault"

    def __init__(self, config: KeyVaultConfig) -> None:
        self.config = config
        self._client: tuple[int, KeyClient] | None = None
        self._lock = threading.Lock()

    def _key_client(self) -> KeyClient:
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._client[0] != pid:
                self._client = (pid, self.config.key_client())
            return self._client[1]

    def create(self, *, label: str) -> tuple[str, KeyVaultKeyStore]:
        """A new secp256k1 signing key generated inside the vault. An existing name gets a
        new version (Key Vault semantics); the returned reference pins the new one."""
        name = key_name_for(label)
        with _vault_call(self.config, f"creating signing key {name}"):
            key = self._key_client().create_ec_key(
                name,
                curve=KeyCurveName.p_256_k,
                hardware_protected=self.config.hardware_protected,
                key_operations=[KeyOperation.sign, KeyOperation.verify],
            )
        store = KeyVaultKeyStore(key.id, self.config, key=key)
        return key.id, store

    def open(self, reference: str) -> KeyVaultKeyStore:
        return KeyVaultKeyStore(reference, self.config)

    def create_wrapping_key(self, *, label: str, size: int = 3072) -> tuple[str, KeyVaultWrapper]:
        """A new RSA key-encryption key generated inside the vault (wrapKey/unwrapKey only)."""
        name = key_name_for(label)
        with _vault_call(self.config, f"creating wrapping key {name}"):
            key = self._key_client().create_rsa_key(
                name,
                size=size,
                hardware_protected=self.config.hardware_protected,
                key_operations=[KeyOperation.wrap_key, KeyOperation.unwrap_key],
            )
        return key.id, KeyVaultWrapper(key.id, self.config, key=key)

    def open_wrapper(self, reference: str) -> KeyVaultWrapper:
        return KeyVaultWrapper(reference, self.config)

    def __repr__(self) -> str:
        return f"KeyVaultBackend({self.config.vault_url!r})"
