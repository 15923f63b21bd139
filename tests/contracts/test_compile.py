"""The committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import json

import pytest

from contracts.chain import compile as solc_pipeline
from contracts.chain.artifacts import SYSTEM_CONTRACTS, load
from tests.background import Background

pytestmark = pytest.mark.unit

EIP170_LIMIT = 24_576


def start_early(jobs: Background, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The compile takes seconds: it starts with the run (`early`, tests/conftest.py)."""
    jobs.submit(f"{__name__}:fresh", solc_pipeline.compile_artifacts)


@pytest.fixture(scope="module")
def fresh(early: Background) -> dict[str, dict[str, object]]:
    artifacts: dict[str, dict[str, object]] = early.result(f"{__name__}:fresh", timeout=600)
    return artifacts


def test_committed_artifacts_match_a_fresh_compile(fresh: dict[str, dict[str, object]]) -> None:
    assert solc_pipeline.drift(fresh) == []


def test_drift_is_detected_when_an_artifact_is_edited(
    fresh: dict[str, dict[str, object]], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(solc_pipeline, "ARTIFACT_DIR", tmp_path)
    solc_pipeline.write(fresh)
    path = tmp_path / "Lots.json"
    raw = json.loads(path.read_text())
    raw["bytecode"] = raw["bytecode"][:-2] + "00"
    path.write_text(json.dumps(raw))
    assert solc_pipeline.drift(fresh) == ["Lots"]


def test_artifacts_record_compiler_and_sources(fresh: dict[str, dict[str, object]]) -> None:
    lots = fresh["Lots"]
    assert lots["compiler"] == {
        "name": "solc",
        "version": lots["compiler"]["version"],  # type: ignore[index]
        "evmVersion": "cancun",
        "optimizer": {"enabled": True, "runs": 200},
    }
    assert str(lots["compiler"]["version"]).startswith("0.8.28+commit.")  # type: ignore[index]
    assert str(lots["sourceHash"]).startswith("0x")
    assert len(str(lots["sourceHash"])) == 66
    assert str(lots["openzeppelin"]).startswith("5.")


def test_every_system_contract_fits_the_eip170_size_limit() -> None:
    for name in SYSTEM_CONTRACTS:
        size = (len(load(name).deployed_bytecode) - 2) // 2
        assert 0 < size <= EIP170_LIMIT, name


def test_a_syntax_error_is_reported_with_the_compiler_message(
    fresh: dict[str, dict[str, object]], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `fresh` first: the patches below must not reach the compile running for it.
    source_dir = tmp_path / "contracts" / "src"
    source_dir.mkdir(parents=True)
    (source_dir / "Broken.sol").write_text("pragma solidity 0.8.28; contract Broken { uint x = ; }")
    monkeypatch.setattr(solc_pipeline, "SOURCE_DIR", source_dir)
    monkeypatch.setattr(solc_pipeline, "PROJECT_ROOT", tmp_path)
    (tmp_path / "node_modules").symlink_to(solc_pipeline.PACKAGE_DIR.parent / "node_modules")
    with pytest.raises(solc_pipeline.CompilationError, match=r"Broken\.sol"):
        solc_pipeline.compile_artifacts()
