"""API rate limits: per API token (a session user of the docs page counts as one token),
and per client address for anonymous requests. Rates come from settings
(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]); an exceeded rate answers 429 problem+json
with Retry-After. While the cache holding the counts cannot be reached, requests are let
through (logged): a partner's API keeps working through a cache outage, uncounted."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from webapp.memo import CACHE_UNREACHABLE
from webapp.organisations.models import ApiToken
from webapp.security import client_address

log = logging.getLogger(__name__)


class _CurrentRates(SimpleRateThrottle):
    """Read the rate from the settings at each request (DRF binds them at import); let a
    request through when the counts cannot be reached."""

    scope: str | None

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return bool(super().allow_request(request, view))
        except CACHE_UNREACHABLE as error:
            log.warning("rate limit not applied, the cache is away: %s", error)
            return True


class TokenRateThrottle(_CurrentRates):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated and request.user.pk is not None:
            ident = f"user-{request.user.pk}"
        else:
            return None  # anonymous: AnonymousRateThrottle
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(_CurrentRates, AnonRateThrottle):
    """Per client address, as the trusted proxy saw it (see PROVENANT_TRUSTED_PROXY)."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        ident = client_address(request._request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
