"""Stand-ins for local development, the tests and the benchmarks; never shipped.

:mod:`.node` runs anvil like a free-gas QBFT network, :mod:`.keyvault` is a local Azure Key
Vault server, :mod:`.softhsm` a SoftHSM2 token, and :mod:`.seed` seeds a demo consortium.
The installed packages (contracts, webapp, workers) never import this package.
"""
