"""The offline verifier reads files from strangers: a hostile file gets a refusal, not a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contracts.proofs.verify", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_a_deeply_nested_file_is_refused_and_the_verifier_survives(tmp_path: Path) -> None:
    # 80,000 levels: under web3's raised recursion limit the JSON decoder overflowed the C
    # stack and the process died with a segfault.
    levels = 80_000
    hostile = tmp_path / "nested.json"
    hostile.write_text('{"a": ' + "[" * levels + "]" * levels + "}")
    result = _verify(hostile)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "REJECTED" in result.stdout
    assert "deep" in result.stdout.lower() or "nest" in result.stdout.lower()


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = _verify(broken)
    assert result.returncode == 1
    assert result.stdout.startswith("REJECTED")
