"""Sign-in throttling: failed sign-ins are counted per account and per client address in
the cache (Redis when REDIS_URL is set, so every web process sees the same counts).

Once an account (or an address) reaches its allowance of failures, sign-ins for it are
refused — even with the right password — for `LOGIN_LOCKOUT_SECONDS`; each further failure
after that doubles the wait, up to `LOGIN_LOCKOUT_MAX_SECONDS`. A successful sign-in clears
the account's count. Failures are forgotten `LOGIN_FAILURE_WINDOW_SECONDS` after the last.

Every way to sign in goes through `django.contrib.auth.authenticate`: the backend below
refuses while locked (the portal's form and the admin's), and the signal receivers count.

While the cache cannot be reached, failures cannot be counted, so sign-ins are refused
with a plain "try again shortly" (503), never let through uncounted and never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import user_logged_in, user_login_failed
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from webapp.memo import CACHE_UNREACHABLE
from webapp.security import client_address

log = logging.getLogger(__name__)

PAUSED_MESSAGE = (
    "Sign-in is paused for a moment: failed attempts cannot be counted right now. "
    "Try again in a minute."
)


class SignInPaused(Exception):
    """The cache holding the failure counts cannot be reached."""


def _keys(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    """(cache key, allowed failures) for the account and for the client address."""
    account = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    keys = [(f"login-failures:account:{account}", settings.LOGIN_FAILURES_PER_ACCOUNT)]
    if request is not None:
        address = hashlib.sha256(client_address(request).encode()).hexdigest()
        keys.append((f"login-failures:address:{address}", settings.LOGIN_FAILURES_PER_ADDRESS))
    return keys


def login_wait_seconds(*, request: HttpRequest | None, username: str) -> int:
    """Seconds until this account may try again from this address (0: it may now)."""
    now = time.time()
    waits = [0.0]
    for key, _ in _keys(request, username):
        try:
            entry = cache.get(key)
        except CACHE_UNREACHABLE as error:
            log.warning("sign-in paused: the failure counts cannot be read: %s", error)
            raise SignInPaused from error
        if entry:
            waits.append(float(entry["locked_until"]) - now)
    return max(0, int(max(waits) + 0.999))


def login_failure_record(*, request: HttpRequest | None, username: str) -> None:
    now = time.time()
    for key, allowed in _keys(request, username):
        entry = cache.get(key) or {"failures": 0, "locked_until": 0.0}
        entry["failures"] += 1
        over = entry["failures"] - allowed
        if over >= 0:
            lockout = min(
                settings.LOGIN_LOCKOUT_SECONDS * 2 ** min(over, 20),
                settings.LOGIN_LOCKOUT_MAX_SECONDS,
            )
            entry["locked_until"] = now + lockout
        keep = max(settings.LOGIN_FAILURE_WINDOW_SECONDS, entry["locked_until"] - now)
        cache.set(key, entry, timeout=int(keep) + 1)


def login_success_record(*, request: HttpRequest | None, username: str) -> None:
    cache.delete(_keys(None, username)[0][0])


def lockout_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return (
        "Too many failed sign-ins for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


class LoginThrottleBackend(BaseBackend):
    """First in AUTHENTICATION_BACKENDS: refuses every sign-in attempt while the account or
    the address is locked, before any password is checked."""

    def authenticate(self, request: Any, username: str | None = None, **credentials: Any) -> None:
        if username is None:
            return None
        try:
            wait = login_wait_seconds(request=request, username=username)
        except SignInPaused:
            raise PermissionDenied(PAUSED_MESSAGE) from None
        if wait > 0:
            raise PermissionDenied(lockout_message(1))
        return None


class _SaysWhenLocked:
    """A sign-in form that says plainly that (and for how long) sign-in is locked."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        try:
            wait = login_wait_seconds(request=self.request, username=username) if username else 0
        except SignInPaused:
            raise ValidationError(PAUSED_MESSAGE, code="paused") from None
        if wait:
            raise ValidationError(lockout_message(wait), code="throttled")
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        return cleaned


class ThrottledAuthenticationForm(_SaysWhenLocked, AuthenticationForm):
    """The portal's sign-in form."""


class ThrottledAdminAuthenticationForm(_SaysWhenLocked, AdminAuthenticationForm):
    """The admin's sign-in form."""


@receiver(user_login_failed)
def _count_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    username = str(credentials.get("username") or "")
    try:
        if not username or login_wait_seconds(request=request, username=username) > 0:
            return  # refused while locked, before any password was read: not a guess
        login_failure_record(request=request, username=username)
    except (SignInPaused, *CACHE_UNREACHABLE):
        return  # refused as paused (see LoginThrottleBackend): nothing was checked


@receiver(user_logged_in)
def _clear_failures(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    try:
        login_success_record(request=request, username=user.get_username())
    except CACHE_UNREACHABLE as error:  # a count left behind expires on its own
        log.warning("a signed-in account's failure count was not cleared: %s", error)


class ThrottledLoginView(LoginView):
    """Django's sign-in page with the throttled form; a locked sign-in answers 429."""

    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        elif form.has_error(NON_FIELD_ERRORS, "paused"):
            response.status_code = 503
            response["Retry-After"] = "60"
        return response
