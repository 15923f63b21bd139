"""A Besu QBFT network for Provenant: the generator and its day-2 commands
(`python -m deploy.besu --help`; deploy/besu/README.md is the operator's guide)."""
