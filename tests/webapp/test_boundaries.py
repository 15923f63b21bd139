"""The app boundaries hold: views read and write through selectors and services (no query
in a view module), and the import contracts in pyproject.toml are kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

#: Every module that holds views: the portal's pages, the passport's, the API's, the health.
VIEW_MODULES = sorted(
    [
        *ROOT.glob("webapp/portal/*views*.py"),
        *ROOT.glob("webapp/passport/views.py"),
        *ROOT.glob("webapp/imports/views.py"),
        *ROOT.glob("webapp/api/views/*.py"),
        *ROOT.glob("webapp/api/epcis/*views*.py"),
        *ROOT.glob("webapp/resolver/*views*.py"),
        ROOT / "webapp/api/provenance.py",
        ROOT / "webapp/health.py",
    ]
)

#: Shortcuts that run a query on a model handed to them.
QUERY_SHORTCUTS = {"get_object_or_404", "get_list_or_404"}


def direct_queries(source: str) -> list[str]:
    """Where a module's code queries a model itself: `Model.objects…` or a 404 shortcut."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in {"objects", "_default_manager"}:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in QUERY_SHORTCUTS
        ):
            found.append(f"line {node.lineno}: {node.func.id}()")
    return sorted(found)


def test_the_scan_finds_a_query_in_a_view() -> None:
    source = (
        "def view(request):\n"
        "    rows = Operation.objects.filter(status='queued')\n"
        "    return get_object_or_404(Operation, pk=1)\n"
    )
    assert sorted(direct_queries(source)) == ["line 2: .objects", "line 3: get_object_or_404()"]
    assert direct_queries("def view(request):\n    return operation_list(organisation=o)\n") == []


def test_the_view_modules_are_all_scanned() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in VIEW_MODULES}
    assert {
        "webapp/portal/views.py",
        "webapp/portal/provenance_views.py",
        "webapp/passport/views.py",
        "webapp/api/views/operations.py",
    } <= names
    assert all(p.is_file() for p in VIEW_MODULES)


@pytest.mark.parametrize("module", VIEW_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_view_queries_the_database_itself(module: Path) -> None:
    assert direct_queries(module.read_text()) == [], (
        f"{module.relative_to(ROOT)} queries models directly; call a selector or service"
    )


def test_the_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
