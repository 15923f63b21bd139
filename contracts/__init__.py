"""The contracts and their Python side.

``src/`` holds the Solidity sources, ``artifacts/`` the committed compiler output and
``toolchain/`` the compiler adapter; :mod:`contracts.chain` talks to the chain (settings,
artifacts, client, decoding, compile, deploy), :mod:`contracts.custody` holds the keys
(keystore files, PKCS#11, Azure Key Vault, the backend registry) and :mod:`contracts.proofs`
builds and checks proofs a third party can verify. Development stand-ins live in
``deploy/local`` and are not installed.
"""
