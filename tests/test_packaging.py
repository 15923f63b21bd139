"""What `pip install` ships: contracts, webapp and workers, whole, and nothing of deploy/.

The development stand-ins (anvil wrapper, local Key Vault server, SoftHSM2 token, demo seed
and demo runner) live in deploy/local, which is not installed; shipped code importing it
would work in a checkout and fail in production, so these tests look for such imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("contracts", "webapp", "workers")


def _shipped_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(find_packages(where=str(ROOT), include=include))


def _deploy_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`import deploy...` / `from deploy... import` lines and "deploy.x" dotted strings."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("deploy.") else []
        found += [
            f"{path.relative_to(root)}:{node.lineno}: {name}"
            for name in names
            if name == "deploy" or name.startswith("deploy.")
        ]
    return found


def test_the_installed_packages_are_contracts_webapp_and_workers_only() -> None:
    packages = _shipped_packages()
    assert {p.split(".")[0] for p in packages} == set(SHIPPED)
    assert not [p for p in packages if p == "deploy" or p.startswith("deploy.")]
    assert {"contracts.chain", "contracts.custody", "contracts.proofs"} <= set(packages)
    assert "contracts.proofs.verify" in packages


def test_every_shipped_module_is_inside_a_package_setuptools_finds() -> None:
    """A directory of modules without __init__.py would be left out of the wheel."""
    packages = set(_shipped_packages())
    for top in SHIPPED:
        for module in (ROOT / top).rglob("*.py"):
            package = ".".join(module.parent.relative_to(ROOT).parts)
            assert package in packages, f"{module.relative_to(ROOT)} would not be installed"


def test_the_compiled_artifacts_ship_as_package_data_of_contracts() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["contracts"]
    shipped = {p.name for g in globs for p in (ROOT / "contracts").glob(g)}
    assert {"Lots.json", "Anchors.json", "Certificates.json"} <= shipped


def test_shipped_code_never_imports_the_development_stand_ins() -> None:
    offending = [
        line
        for top in SHIPPED
        for path in sorted((ROOT / top).rglob("*.py"))
        for line in _deploy_imports(path)
    ]
    assert offending == []


def test_the_scan_finds_an_import_of_deploy(tmp_path: Path) -> None:
    source = (ROOT / "workers" / "tasks.py").read_text()
    probe = tmp_path / "tasks.py"
    probe.write_text(source)
    assert _deploy_imports(probe, tmp_path) == []
    probe.write_text(
        source + '\nfrom deploy.local.node import AnvilNode\nBACKEND = "deploy.local.x"\n'
    )
    assert [line.split(": ", 1)[1] for line in _deploy_imports(probe, tmp_path)] == [
        "deploy.local.node",
        "deploy.local.x",
    ]


def test_importing_every_shipped_module_loads_nothing_from_deploy() -> None:
    """Imports made at run time (import_string, lazy imports) are caught here too: the web
    app is set up, the Celery app loaded and every module of the three packages imported."""
    script = """
import importlib, json, os, pkgutil, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
import django
django.setup()
import contracts, webapp, workers
skip = ("webapp.settings_", "webapp.wsgi", "webapp.asgi")
for package in (contracts, webapp, workers):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations." in info.name or info.name.startswith(skip):
            continue
        importlib.import_module(info.name)
from django.conf import settings
from django.utils.module_loading import import_string
for path in settings.KEY_STORE_BACKENDS.values():
    import_string(path)
print(json.dumps(sorted(m for m in sys.modules if m == "deploy" or m.startswith("deploy."))))
print(json.dumps(len([m for m in sys.modules if m.startswith("contracts.")])))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    deploy_modules, contracts_modules = (
        json.loads(line) for line in result.stdout.splitlines()[-2:]
    )
    assert deploy_modules == []
    assert contracts_modules >= 20


def test_gs1s_epcis_schemas_and_context_ship_as_package_data_of_webapp_epcis() -> None:
    """Capture validation reads them at run time; a wheel without them fails every capture."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["webapp.epcis"]
    package = ROOT / "webapp" / "epcis"
    shipped = {p.relative_to(package).as_posix() for g in globs for p in package.glob(g)}
    vendored = {
        p.relative_to(package).as_posix() for p in (package / "gs1").rglob("*") if p.is_file()
    }
    assert "gs1/epcis-context.jsonld" in shipped
    assert "gs1/schemas/ObjectEvent-JSON-Schema.json" in shipped
    assert vendored <= shipped
