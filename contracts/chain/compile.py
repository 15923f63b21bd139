"""Compile the Solidity sources into the committed artifacts.

The compiler is the pinned npm ``solc`` (solcjs) behind a small adapter that speaks the
native command-line interface, driven through py-solc-x's ``compile_standard``: a native
solc cannot be downloaded on the build machines, and solcjs prints a banner before its JSON
when run as ``solcjs --standard-json``.

``python -m contracts.chain.compile`` rewrites ``contracts/artifacts/``;
``python -m contracts.chain.compile --check`` compiles in memory and exits 1 when the committed
artifacts differ from a fresh compile.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import solcx
import solcx.exceptions

# The Solidity sources, the artifacts and the toolchain live in contracts/, above this package.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_DIR.parent
SOURCE_DIR = PACKAGE_DIR / "src"
ARTIFACT_DIR = PACKAGE_DIR / "artifacts"
SOLC_VERSION = "0.8.28"
ADAPTER = PACKAGE_DIR / "toolchain" / f"solc-v{SOLC_VERSION}"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200

#: The contracts whose artifacts are committed (name -> source file under contracts/src).
CONTRACTS: dict[str, str] = {
    "Lots": "Lots.sol",
    "Certificates": "Certificates.sol",
    "Anchors": "Anchors.sol",
    "PlainERC1155": "bench/PlainERC1155.sol",
}


def _source_key(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def standard_input() -> dict[str, Any]:
    """The standard-JSON input: every project source; imports resolve from node_modules."""
    sources = {
        _source_key(path): {"content": path.read_text()}
        for path in sorted(SOURCE_DIR.rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def _read_source(key: str) -> str:
    for base in (PROJECT_ROOT, PROJECT_ROOT / "node_modules"):
        candidate = base / key
        if candidate.is_file():
            return candidate.read_text()
    raise FileNotFoundError(key)


def _source_hash(source_keys: list[str]) -> str:
    """sha256 over every file the compiler read (project sources and imports), by name."""
    digest = hashlib.sha256()
    for key in sorted(source_keys):
        digest.update(key.encode() + b"\0" + _read_source(key).encode() + b"\0")
    return "0x" + digest.hexdigest()


def _openzeppelin_version() -> str:
    package = PROJECT_ROOT / "node_modules" / "@openzeppelin" / "contracts" / "package.json"
    return str(json.loads(package.read_text())["version"])


class CompilationError(RuntimeError):
    """The compiler reported errors; the message lists them."""


def compile_artifacts() -> dict[str, dict[str, Any]]:
    """Compile every contract and return its artifact, keyed by contract name."""
    if not (PROJECT_ROOT / "node_modules" / "solc").is_dir():
        raise CompilationError("node_modules/solc is missing: run `npm ci` (or `make install`)")
    os.environ.setdefault("PROVENANT_ROOT", str(PROJECT_ROOT))
    try:
        output = solcx.compile_standard(standard_input(), solc_binary=ADAPTER)
    except solcx.exceptions.SolcError as exc:
        raise CompilationError(exc.message) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError("\n".join(e["formattedMessage"] for e in errors))
    compiler_version = _compiler_version()
    source_hash = _source_hash(list(output["sources"]))
    oz_version = _openzeppelin_version()
    artifacts: dict[str, dict[str, Any]] = {}
    for name, source in CONTRACTS.items():
        key = _source_key(SOURCE_DIR / source)
        compiled = output["contracts"][key][name]
        artifacts[name] = {
            "contractName": name,
            "sourceName": key,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            "compiler": {
                "name": "solc",
                "version": compiler_version,
                "evmVersion": EVM_VERSION,
                "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            },
            "openzeppelin": oz_version,
            "sourceHash": source_hash,
        }
    return artifacts


def _compiler_version() -> str:
    out = subprocess.run(
        [str(ADAPTER), "--version"], check=True, capture_output=True, text=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("Version:"))
    return line.split(":", 1)[1].strip()


def render(artifact: dict[str, Any]) -> str:
    """The committed text of an artifact: stable key order, so a rebuild diffs cleanly."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def drift(artifacts: dict[str, dict[str, Any]]) -> list[str]:
    """Names of committed artifacts that differ from `artifacts` (or are missing)."""
    changed = []
    for name, artifact in artifacts.items():
        path = ARTIFACT_DIR / f"{name}.json"
        if not path.is_file() or path.read_text() != render(artifact):
            changed.append(name)
    return changed


def write(artifacts: dict[str, dict[str, Any]]) -> None:
    ARTIFACT_DIR.mkdir(exist_ok=True)
    for name, artifact in artifacts.items():
        (ARTIFACT_DIR / f"{name}.json").write_text(render(artifact))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail when committed artifacts are stale"
    )
    args = parser.parse_args(argv)
    try:
        artifacts = compile_artifacts()
    except CompilationError as exc:
        print(f"compilation failed:\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = drift(artifacts)
        if stale:
            print("stale artifacts (run `make contracts`): " + ", ".join(stale), file=sys.stderr)
            return 1
        print("artifacts match a fresh compile")
        return 0
    write(artifacts)
    for name, artifact in artifacts.items():
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        print(f"{name}: {size} bytes deployed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
