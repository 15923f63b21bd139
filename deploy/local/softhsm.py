"""A SoftHSM2 token for local use: the tests, `bench/signing.py` and the demo.

SoftHSM2 (Debian `softhsm2`) is a PKCS#11 module that keeps its tokens in a directory named
by the file in `SOFTHSM2_CONF`. The module reads that variable once, when it is first
initialised in a process, so :func:`ensure_token` sets it before anything loads the module
and refuses to point an already-configured process somewhere else.

Production uses a real HSM: its vendor's PKCS#11 module, a token initialised by the
security officer, and the user PIN from the environment (see `webapp/settings/`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from contracts.custody.hsm import Pkcs11Config

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


class SoftHsmMissing(RuntimeError):
    """SoftHSM2 is not installed (`apt-get install softhsm2`)."""


def _configure(state_dir: Path) -> Path:
    conf = state_dir / "softhsm2.conf"
    tokens = state_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    if not conf.exists():
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
    current = os.environ.get("SOFTHSM2_CONF")
    if current and Path(current).resolve() != conf.resolve():
        raise RuntimeError(
            f"SOFTHSM2_CONF is already {current}; SoftHSM reads it once per process, so this "
            f"process cannot also use {conf}"
        )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def ensure_token(
    state_dir: Path, *, label: str = "provenant", pin: str = "1234", so_pin: str = "5678"
) -> Pkcs11Config:
    """A SoftHSM2 token labelled `label` under `state_dir`, initialised on first use."""
    if not Path(SOFTHSM_LIBRARY).exists():
        raise SoftHsmMissing(f"{SOFTHSM_LIBRARY} is missing: install Debian's softhsm2")
    conf = _configure(Path(state_dir))
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    listing = subprocess.run(
        ["softhsm2-util", "--show-slots"], env=env, capture_output=True, text=True, check=True
    ).stdout
    labels = {
        line.split(":", 1)[1].strip()
        for line in listing.splitlines()
        if line.strip().startswith("Label:")
    }
    if label not in labels:
        subprocess.run(
            [
                *("softhsm2-util", "--init-token", "--free", "--label", label),
                *("--pin", pin, "--so-pin", so_pin),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return Pkcs11Config(library=SOFTHSM_LIBRARY, token_label=label, user_pin=pin)
