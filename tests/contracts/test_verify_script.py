"""The offline verifier is installed as the console script `provenant-verify`: the entry point
in pyproject names a callable that exists and returns the process's exit status."""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def entry_point() -> Callable[..., object]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["provenant-verify"].partition(":")
    target = getattr(importlib.import_module(module), name)
    assert callable(target)
    return target  # type: ignore[no-any-return]


def test_the_script_returns_exit_status_one_for_a_file_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert entry_point()([str(broken)]) == 1
    assert "REJECTED" in capsys.readouterr().out


def test_the_script_names_itself_in_its_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["/venv/bin/provenant-verify", "--help"])
    with pytest.raises(SystemExit, match="0"):
        entry_point()()
    assert capsys.readouterr().out.startswith("usage: provenant-verify ")
