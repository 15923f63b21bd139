"""Chain settings read from the environment, with embedded defaults for a first run.

Each helper raises ConfigError naming the variable when its value is malformed, so a typo
fails at start-up instead of somewhere deep in a transaction.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Chain id of the local development node (anvil, started by `make node`).
LOCAL_CHAIN_ID = 1337


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 0)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def rpc_url() -> str:
    """JSON-RPC endpoint of the chain node (HTTP, or ws:// for the async client)."""
    return env_str("PROVENANT_RPC_URL", "http://127.0.0.1:8545")


def data_dir() -> Path:
    """Where local runtime state lives: node state, deployment manifests."""
    return Path(env_str("PROVENANT_DATA_DIR", str(PROJECT_ROOT / "var")))


def deployments_dir() -> Path:
    return Path(env_str("PROVENANT_DEPLOYMENTS_DIR", str(data_dir() / "deployments")))


def poa_chain() -> bool:
    """Besu QBFT blocks carry long extraData; web3 needs its PoA middleware to read them."""
    return env_bool("PROVENANT_POA_CHAIN", False)


def priority_fee_wei() -> int:
    """Tip per gas. Zero on a free-gas QBFT network; set it for a network that charges."""
    return env_int("PROVENANT_PRIORITY_FEE_WEI", 0, minimum=0)


def receipt_timeout_seconds() -> int:
    return env_int("PROVENANT_RECEIPT_TIMEOUT", 60, minimum=1)
