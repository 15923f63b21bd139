"""PROVENANT_ENV=production fails closed: it refuses to start with DEBUG or a development
secret, passes `manage.py check --deploy`, and every response carries a content security
policy; error reports never show the PKCS#11 PIN or a password inside a URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from tests.background import Background
from webapp.security import without_url_password

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET_KEY = "k3Vq9-" + "Zr7xPm2LwT8sN4bYc6HdJf1GgQe5Ua0R" * 2
PRODUCTION_ENV = {
    "PROVENANT_ENV": "production",
    "DJANGO_SECRET_KEY": STRONG_SECRET_KEY,
    "DJANGO_ALLOWED_HOSTS": "provenant.example.org",
    "PROVENANT_KEYSTORE_PASSPHRASE": "a-long-random-keystore-master-secret-7f3a",
    "PROVENANT_TRUSTED_PROXY": "true",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh process with only the given settings variables."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PROVENANT_", "AZURE_"))
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    base["PROVENANT_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def issue_ids(output: str) -> set[str]:
    return set(re.findall(r"\(([a-z_]+\.[WE]\d+)\)", output))


@pytest.mark.unit
def test_check_deploy_is_clean_in_production_mode(
    starts: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = starts("deploy in production")

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    # The schema generator's own naming warnings are not about deployment.
    assert {i for i in issue_ids(output) if not i.startswith("drf_spectacular.")} == set()


@pytest.mark.unit
def test_check_deploy_warns_in_development_mode(
    starts: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = starts("deploy in development")

    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= issue_ids(
        result.stdout + result.stderr
    )


REFUSED = [
    ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG is on"),
    ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is not set"),
    (
        {"DJANGO_SECRET_KEY": "provenant-development-only-secret-key-change-me"},
        "DJANGO_SECRET_KEY is the development default",
    ),
    (
        {"DJANGO_SECRET_KEY": "django-insecure-" + STRONG_SECRET_KEY},
        "DJANGO_SECRET_KEY is the development default",
    ),
    ({"DJANGO_SECRET_KEY": "short-but-not-empty"}, "DJANGO_SECRET_KEY is too weak"),
    ({"PROVENANT_KEYSTORE_PASSPHRASE": ""}, "PROVENANT_KEYSTORE_PASSPHRASE is not set"),
    (
        {"PROVENANT_KEYSTORE_PASSPHRASE": "provenant-development-passphrase"},
        "PROVENANT_KEYSTORE_PASSPHRASE is the development default",
    ),
    (
        {"PROVENANT_KEY_BACKEND": "pkcs11", "PROVENANT_KEYSTORE_PASSPHRASE": ""},
        "PROVENANT_PKCS11_USER_PIN is not set",
    ),
    ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS is not set"),
    ({"REDIS_URL": ""}, "PROVENANT_CACHE_URL is not set, nor REDIS_URL"),
]


def refused_start(changes: dict[str, str], message: str) -> str:
    return f"refused: {message} {sorted(changes.items())}"


def start_early(jobs: Background, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every `manage.py` start the tests below check (each is a fresh process that loads
    the whole project), started with the run: see `early` in tests/conftest.py."""

    def start(name: str, *args: str, **env: str) -> None:
        jobs.submit(f"{__name__}:{name}", manage, tmp_path_factory.mktemp("start"), *args, **env)

    start("deploy in production", "check", "--deploy", **PRODUCTION_ENV)
    start("deploy in development", "check", "--deploy")
    for changes, message in REFUSED:
        env = {k: v for k, v in {**PRODUCTION_ENV, **changes}.items() if v}
        start(refused_start(changes, message), "check", **env)
    start("development", "check")


@pytest.fixture
def starts(early: Background) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """The finished start of that name."""
    return lambda name: early.result(f"{__name__}:{name}")


@pytest.mark.unit
@pytest.mark.parametrize(("changes", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_a_production_start_with_development_settings_exits_naming_the_variable(
    starts: Callable[[str], subprocess.CompletedProcess[str]], changes: dict[str, str], message: str
) -> None:
    result = starts(refused_start(changes, message))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"PROVENANT_ENV=production refuses to start: {message}" in result.stderr


@pytest.mark.unit
def test_a_development_start_needs_no_environment(
    starts: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = starts("development")

    assert result.returncode == 0, result.stderr


@pytest.mark.integration
@pytest.mark.django_db
def test_every_page_carries_a_content_security_policy_without_inline_code() -> None:
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy

    docs = Client().get("/api/docs/")
    assert "style-src 'self' 'unsafe-inline'" in docs["Content-Security-Policy"]
    assert "script-src 'self';" in docs["Content-Security-Policy"]
    assert "<script>" not in docs.content.decode()  # its set-up script is served separately


@pytest.mark.unit
def test_no_portal_template_has_inline_script_style_or_event_handler() -> None:
    templates = list((ROOT / "webapp" / "portal" / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), template


PIN = "pin-7765-secret"
REDIS_PASSWORD = "redis-hunter2-secret"


@pytest.mark.unit
def test_an_error_page_never_shows_the_pin_or_passwords(settings: Any) -> None:
    settings.DEBUG = True
    settings.PKCS11_USER_PIN = PIN
    settings.REDIS_URL = f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    request = RequestFactory().get("/", PROVENANT_PKCS11_USER_PIN=PIN, REDIS_URL=settings.REDIS_URL)

    def open_token(user_pin: str, broker: str) -> None:
        raise RuntimeError("the token did not answer")

    try:
        open_token(PIN, settings.REDIS_URL)
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()

    assert "the token did not answer" in html
    assert "redis.internal:6379" in html
    assert PIN not in html
    assert REDIS_PASSWORD not in html


@pytest.mark.unit
def test_a_url_password_is_masked_and_nothing_else_changes() -> None:
    hidden = SafeExceptionReporterFilter.cleansed_substitute
    assert without_url_password("redis://:s3cret@cache:6379/0") == f"redis://:{hidden}@cache:6379/0"
    assert (
        without_url_password("postgres://app:s3cret@db/provenant")
        == f"postgres://app:{hidden}@db/provenant"
    )
    assert without_url_password("redis://cache:6379/0") == "redis://cache:6379/0"
    assert without_url_password("https://example.org/a:b@c") == "https://example.org/a:b@c"
