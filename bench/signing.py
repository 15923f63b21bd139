"""Transaction signing per key-store backend, and personal-data sealing.

For each backend — the encrypted keystore file, a SoftHSM2 token through PKCS#11, and the
Azure Key Vault client (`azure-keyvault-keys`) against the local HTTPS server that speaks
the Key Vault REST protocol — creates a key, signs --count EIP-1559 transactions (each a
different nonce, so each is a fresh digest) and prints ``sign_ms_<backend>: X``, the median
milliseconds per signed transaction, with the p95. Every signature is checked to recover
to the key's address before it counts.

Then seals and opens --count personal values (AES-256-GCM under a data subject's key, with
the salted commitment) and prints ``pii_encrypt_decrypt_us: Y``, the median microseconds
per seal + open pair; and the median to unwrap a subject's data key per backend
(``unwrap_ms_<backend>``), which a read pays once per subject.

    python bench/signing.py [--count 300]

Needs Debian's softhsm2 (installed by `make services`); no chain node, no database.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account

from contracts.custody.hsm import Pkcs11Backend
from contracts.custody.keystore import KeyStore, KeystoreFile, KeyWrapper, WrappingKeyFile
from contracts.custody.keyvault import KeyVaultBackend, KeyVaultConfig, StaticTokenCredential
from deploy.local.keyvault import LocalKeyVault
from deploy.local.softhsm import ensure_token


def _tx(nonce: int) -> dict[str, Any]:
    return {
        "type": 2,
        "chainId": 1337,
        "nonce": nonce,
        "to": "0x" + "11" * 20,
        "value": 0,
        "data": "0x" + secrets.token_hex(68),
        "gas": 120_000,
        "maxFeePerGas": 2_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
    }


def _timed(count: int, run: Callable[[int], object]) -> list[float]:
    run(-1)  # warm up (i = -1): opens the session, logs in, fetches the public key
    samples = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - start)
    return samples


def _p95(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.95) - 1]


def bench_store(name: str, store: KeyStore, count: int) -> None:
    txs = [_tx(i + 1) for i in range(count)]
    signed: list[bytes] = []

    def sign(i: int) -> None:
        raw = store.sign_transaction(txs[max(i, 0)])
        if i >= 0:
            signed.append(raw)

    samples = _timed(count, sign)
    for raw in signed:  # checked outside the timing
        if Account.recover_transaction(raw) != store.address:
            raise SystemExit(f"{name}: a signature does not recover to the key's address")
    print(
        f"sign_ms_{name}: {statistics.median(samples) * 1000:.3f}"
        f"  (p95 {_p95(samples) * 1000:.3f} ms, {count} transactions)"
    )


def bench_unwrap(name: str, wrapper: KeyWrapper, count: int) -> None:
    wrapped = wrapper.wrap(os.urandom(32))
    samples = _timed(count, lambda _: wrapper.unwrap(wrapped) and None)
    print(f"unwrap_ms_{name}: {statistics.median(samples) * 1000:.3f}")


def bench_pii(count: int) -> None:
    from webapp.privacy import crypto

    key = crypto.new_key()
    subject = "0b6c3c54-8a39-4a8e-9a44-7a3f0c7d2b11"

    def pair(i: int) -> None:
        value = f"contact{i}@example.org"
        sealed = crypto.seal(key, subject, "contact_email", value)
        if crypto.unseal(key, subject, "contact_email", sealed.ciphertext, sealed.commitment) != (
            value
        ):
            raise SystemExit("pii: a value did not round-trip")

    samples = _timed(count, pair)
    print(f"pii_encrypt_decrypt_us: {statistics.median(samples) * 1e6:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    count = parser.parse_args().count
    with tempfile.TemporaryDirectory(prefix="provenant-signing-") as tmp:
        work = Path(tmp)
        keystore = KeystoreFile.create(work / "org.json", "bench passphrase")
        bench_store("keystore", keystore, count)

        hsm = Pkcs11Backend(ensure_token(work / "softhsm", label="provenant-bench"))
        _, hsm_store = hsm.create(label="bench-signing")
        bench_store("softhsm", hsm_store, count)

        with LocalKeyVault(work / "keyvault") as vault:
            config = KeyVaultConfig(
                vault_url=vault.url,
                credential=StaticTokenCredential(vault.token),
                connection_verify=str(vault.ca_file),
                verify_challenge_resource=False,
            )
            vault_backend = KeyVaultBackend(config)
            _, vault_store = vault_backend.create(label="bench-signing")
            bench_store("keyvault", vault_store, count)

            wrappers: list[tuple[str, KeyWrapper]] = [
                ("keystore", WrappingKeyFile.create(work / "kek.json", "bench passphrase")),
                ("softhsm", hsm.create_wrapping_key(label="bench-kek")[1]),
                ("keyvault", vault_backend.create_wrapping_key(label="bench-kek")[1]),
            ]
            for name, wrapper in wrappers:
                bench_unwrap(name, wrapper, min(count, 200))
        bench_pii(count)


if __name__ == "__main__":
    main()
