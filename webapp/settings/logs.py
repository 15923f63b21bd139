"""Logging: JSON lines with request and operation ids (production's default), or text."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_str


def logging_settings(*, production: bool) -> tuple[str, dict[str, Any]]:
    """(LOG_FORMAT, LOGGING) from the environment."""
    #: "json": one JSON object per log line with the request and operation ids (production's
    #: default); "text": plain lines (development's).
    log_format = env_str("PROVENANT_LOG_FORMAT", "json" if production else "text")
    if log_format not in ("json", "text"):
        raise ImproperlyConfigured(f"PROVENANT_LOG_FORMAT={log_format!r} should be json or text.")
    logging = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "webapp.telemetry.JsonLogFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": env_str("PROVENANT_LOG_LEVEL", "INFO")},
    }
    return log_format, logging
