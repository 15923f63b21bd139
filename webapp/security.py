"""HTTP-level protections Django 5.2 does not ship: a Content-Security-Policy header, and
error reports that never show a secret.

The policy comes from settings.CONTENT_SECURITY_POLICY (directive -> sources), with
settings.CONTENT_SECURITY_POLICY_PATHS overriding directives under a path prefix. A view
that sets its own Content-Security-Policy header keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.views.debug import SafeExceptionReporterFilter


def content_security_policy(path: str) -> str:
    """The policy for a request path: the site's directives, then a path prefix's overrides."""
    directives = dict(settings.CONTENT_SECURITY_POLICY)
    for prefix, overrides in settings.CONTENT_SECURITY_POLICY_PATHS.items():
        if path.startswith(prefix):
            directives.update(overrides)
    return "; ".join(f"{name} {sources}".strip() for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        return response


#: Django's own pattern plus the PKCS#11 PIN, credentials and anything named like a secret.
_HIDDEN = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|PIN|CREDENTIAL|PRIVATE",
    flags=re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def without_url_password(value: str) -> str:
    """redis://:hunter2@host:6379/0 -> redis://:********@host:6379/0 (anything else as is)."""
    if not _URL_WITH_PASSWORD.match(value):
        return value
    parts = urlsplit(value)
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:{SafeExceptionReporterFilter.cleansed_substitute}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class SecretHidingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hides, in settings, request headers (including the environment a development
    server copies into them) and the local variables of every frame: values whose name
    looks like a secret, and passwords inside URLs."""

    hidden_settings = _HIDDEN

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return without_url_password(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleanse_setting(name, value) if isinstance(name, str) else value)
            for name, value in variables
        ]


def client_address(request: HttpRequest) -> str:
    """The client's address: the one the trusted proxy saw (the last X-Forwarded-For
    entry, which the proxy appended) or the socket's peer."""
    if settings.TRUSTED_PROXY:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
