"""Settings read from the environment fail loudly on a bad value; the demo seed is safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.background import Background
from webapp.env import database_from_url, env_int

pytestmark = pytest.mark.unit


def test_a_postgres_url_becomes_a_database_entry() -> None:
    db = database_from_url("postgres://app:s%40cret@db.local:6543/provenant")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("provenant", "app", "s@cret")
    assert (db["HOST"], db["PORT"]) == ("db.local", "6543")
    assert database_from_url("sqlite:///tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/app", "must start with postgres://"),
        ("postgres://localhost", "names no database"),
    ],
)
def test_a_bad_database_url_is_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        database_from_url(url)


def test_a_bad_integer_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXER_MAX_RANGE", "many")
    with pytest.raises(ImproperlyConfigured, match="INDEXER_MAX_RANGE"):
        env_int("INDEXER_MAX_RANGE", 5000, minimum=1)


OUT_OF_CHOICES = [("PROVENANT_KEY_BACKEND", "hsm"), ("PROVENANT_PERSONAL_DATA_RETENTION", "weekly")]


def _check(variable: str, value: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVENANT_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "PROVENANT_DATA_DIR": str(data_dir), variable: value},
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_early(jobs: Background, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`manage.py check` with each setting out of its choices, started with the run
    (`early`, tests/conftest.py)."""
    for variable, value in OUT_OF_CHOICES:
        jobs.submit(
            f"{__name__}:{variable}", _check, variable, value, tmp_path_factory.mktemp("check")
        )


@pytest.mark.parametrize(("variable", "value"), OUT_OF_CHOICES)
def test_a_setting_outside_its_choices_refuses_to_start_naming_it(
    early: Background, variable: str, value: str
) -> None:
    result = early.result(f"{__name__}:{variable}")
    assert result.returncode != 0
    assert f"{variable} must be one of" in result.stderr
    assert repr(value) in result.stderr
