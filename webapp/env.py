"""Typed readers of environment variables for Django settings.

A malformed value raises ImproperlyConfigured naming the variable; an unset one falls back
to the embedded default, so a first run needs no environment at all.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from contracts.chain import settings as chain_settings


def _wrap(reader: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return reader(*args, **kwargs)
    except chain_settings.ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def env_str(name: str, default: str) -> str:
    return str(chain_settings.env_str(name, default))


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    return int(_wrap(chain_settings.env_int, name, default, minimum=minimum))


def env_bool(name: str, default: bool) -> bool:
    return bool(_wrap(chain_settings.env_bool, name, default))


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else default


def database_from_url(url: str) -> dict[str, Any]:
    """A Django DATABASES entry from postgres://user:pass@host:port/name or sqlite:///path."""
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql"}:
        name = parsed.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL names no database: {url!r}")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(name),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            # A kept connection is checked before a request or task uses it, so a restarted
            # database server costs one reconnect, not an error.
            "CONN_HEALTH_CHECKS": True,
            # The portal's queries are short; a lineage query's cost estimate can still pass
            # jit_above_cost and spend ~270 ms compiling for a 5 ms walk (measured).
            "OPTIONS": {"options": "-c jit=off"},
        }
    if parsed.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.path or ":memory:"}
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with postgres://, postgresql:// or sqlite://, got {url!r}"
    )


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def refuse_in_production(name: str, problem: str) -> ImproperlyConfigured:
    """The error a production start fails with: which variable, what is wrong with it."""
    return ImproperlyConfigured(
        f"PROVENANT_ENV=production refuses to start: {name} {problem}. Set {name} from the"
        " deployment's secret store (or unset PROVENANT_ENV for a development run)."
    )


def production_secret(name: str, value: str, *, development_default: str, min_length: int) -> str:
    """`value` when it can guard a production deployment; otherwise ImproperlyConfigured
    naming the variable (unset, the development default, or too short to resist guessing)."""
    if not value:
        raise refuse_in_production(name, "is not set")
    if value == development_default or value.startswith("django-insecure-"):
        raise refuse_in_production(name, "is the development default, which is public")
    if len(value) < min_length or len(set(value)) < 5:
        raise refuse_in_production(
            name, f"is too weak (at least {min_length} characters, not one repeated few)"
        )
    return value


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF reads it: "<count>/<second|minute|hour|day>"."""
    value = env_str(name, default)
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 600/minute, got {value!r}")
    return value
