"""Accounts: passwords must pass Django's validators (at invitation and on the set-password
page), sign-in is throttled per account and per client address, and the API is rate
limited per token and, anonymously, per address."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from contracts.chain.domain import Role
from tests.redis_server import REDIS_SERVER, RedisServer
from webapp.organisations.models import Member, Organisation
from webapp.organisations.services import api_token_create, member_invite, organisation_create
from webapp.portal import login_throttle

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

GOOD = "a-long-unusual-passphrase"
LOCKED = "Too many failed sign-ins for this account or from this address."


@pytest.fixture
def mine() -> Organisation:
    return organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER, slug="mine")


@pytest.fixture
def throttle(settings: Any) -> Any:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_LOCKOUT_SECONDS = 60
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 600
    settings.TRUSTED_PROXY = False
    return settings


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's clock, moved by hand: now[0] seconds since the epoch."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(login_throttle.time, "time", lambda: now[0])
    return now


def sign_in(username: str, password: str, address: str = "192.0.2.10", **extra: str) -> Any:
    return Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}, **extra
    )


def signed_in(response: Any) -> bool:
    return response.status_code == 302


# --- passwords


def test_an_invitation_with_a_weak_password_is_refused_and_creates_nobody(
    mine: Organisation,
) -> None:
    for weak, reason in (
        ("1", "too short"),
        ("12345678901234", "entirely numeric"),
        ("password123456", "too common"),
        ("alice-example-org", "too similar"),
    ):
        with pytest.raises(ValidationError) as refused:
            member_invite(
                organisation=mine, username="alice", email="alice@example.org", password=weak
            )
        assert any(reason in m for m in refused.value.message_dict["password"]), weak
    assert not get_user_model().objects.filter(username="alice").exists()
    assert Member.objects.count() == 0

    user, _ = member_invite(organisation=mine, username="alice", password=GOOD)
    assert user.check_password(GOOD)


def test_the_invitation_page_refuses_a_weak_password_and_keeps_the_link(
    mine: Organisation,
) -> None:
    out = StringIO()
    call_command("invite_member", "mine", "alice", "--base-url", "", stdout=out)
    client = Client()
    form_page = client.get(out.getvalue().strip(), follow=True)
    set_password_url = form_page.redirect_chain[-1][0]

    refused = client.post(set_password_url, {"new_password1": "1", "new_password2": "1"})

    assert refused.status_code == 200
    assert b"This password is too short" in refused.content
    assert not get_user_model().objects.get(username="alice").has_usable_password()
    done = client.post(set_password_url, {"new_password1": GOOD, "new_password2": GOOD})
    assert done.status_code == 302
    assert signed_in(sign_in("alice", GOOD))


# --- sign-in throttling


@pytest.fixture
def alice(mine: Organisation) -> Any:
    user, _ = member_invite(organisation=mine, username="alice", password=GOOD)
    return user


def test_an_account_is_locked_after_its_failures_and_backs_off(
    alice: Any, throttle: Any, clock: list[float]
) -> None:
    for attempt in range(3):
        failed = sign_in("alice", f"wrong-{attempt}", address=f"198.51.100.{attempt}")
        assert failed.status_code == 200
        assert not signed_in(failed)

    refused = sign_in("alice", GOOD, address="198.51.100.99")  # right password, new address
    assert refused.status_code == 429
    page = refused.content.decode()
    assert LOCKED in page
    assert "Try again in 1 minute." in page
    assert not Client().login(username="alice", password=GOOD)  # every sign-in path
    admin = Client().post("/admin/login/", {"username": "alice", "password": GOOD})
    assert admin.status_code == 200
    assert "_auth_user_id" not in admin.client.session
    assert LOCKED in admin.content.decode()

    clock[0] += 61
    assert not signed_in(sign_in("alice", "wrong-again"))  # a 4th failure: the wait doubles
    clock[0] += 61
    assert sign_in("alice", GOOD).status_code == 429
    assert "Try again in 1 minute." in sign_in("alice", GOOD).content.decode()
    clock[0] += 60
    assert signed_in(sign_in("alice", GOOD))

    # A successful sign-in clears the account's count.
    assert not signed_in(sign_in("alice", "wrong"))
    assert signed_in(sign_in("alice", GOOD, address="198.51.100.50"))


def test_another_account_is_not_locked_by_someone_elses_failures(
    alice: Any, mine: Organisation, throttle: Any, clock: list[float]
) -> None:
    member_invite(organisation=mine, username="bob", password=GOOD)
    for attempt in range(3):
        sign_in("alice", f"wrong-{attempt}", address=f"198.51.100.{attempt}")

    assert sign_in("alice", GOOD).status_code == 429
    assert signed_in(sign_in("bob", GOOD))


def test_an_address_is_locked_after_failures_across_accounts(
    alice: Any, throttle: Any, clock: list[float]
) -> None:
    for attempt in range(5):
        sign_in(f"guess-{attempt}", "wrong", address="203.0.113.7")

    refused = sign_in("alice", GOOD, address="203.0.113.7")
    assert refused.status_code == 429
    assert LOCKED in refused.content.decode()
    assert signed_in(sign_in("alice", GOOD, address="203.0.113.8"))


def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    alice: Any, throttle: Any, clock: list[float]
) -> None:
    throttle.TRUSTED_PROXY = True
    for attempt in range(5):
        sign_in(
            f"guess-{attempt}",
            "wrong",
            address="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, 203.0.113.7",  # spoofed, then real
        )

    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    assert sign_in("alice", GOOD, address="10.0.0.2", **forwarded).status_code == 429
    elsewhere = {"HTTP_X_FORWARDED_FOR": "203.0.113.8"}
    assert signed_in(sign_in("alice", GOOD, address="10.0.0.2", **elsewhere))


# --- API rate limits


def test_the_api_answers_429_problem_json_with_retry_after_per_token(
    mine: Organisation, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anon": "100/minute"},
    }
    first, _ = api_token_create(organisation=mine, name="erp")
    second, _ = api_token_create(organisation=mine, name="wms")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {first}")
    for _ in range(3):
        assert client.get("/api/v1/organisations").status_code == 200

    refused = client.get("/api/v1/organisations")

    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["title"] == "Too many requests"
    assert 0 < int(refused["Retry-After"]) <= 60
    other = Client(HTTP_AUTHORIZATION=f"Bearer {second}").get("/api/v1/organisations")
    assert other.status_code == 200  # each token has its own allowance


def test_anonymous_api_use_is_limited_per_address(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100/minute", "anon": "2/minute"},
    }
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert client.get("/api/v1/organisations").status_code == 401
    statuses = [Client(REMOTE_ADDR="203.0.113.9").get("/api/schema/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert Client(REMOTE_ADDR="203.0.113.10").get("/api/schema/").status_code == 200


# --- the cache away


@pytest.fixture
def private_cache(tmp_path: Path, settings: Any) -> Iterator[RedisServer]:
    """The counts in a private redis-server (never the machine's), which the test stops."""
    if REDIS_SERVER is None:
        pytest.skip("the redis-server binary is not installed")
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    yield server
    server.kill()


def test_while_the_cache_is_away_sign_in_pauses_and_the_api_goes_on_uncounted(
    alice: Any, mine: Organisation, throttle: Any, private_cache: RedisServer
) -> None:
    throttle.REST_FRAMEWORK = {
        **throttle.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anon": "100/minute"},
    }
    token, _ = api_token_create(organisation=mine, name="erp")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/organisations").status_code == 200  # one of three counted

    private_cache.kill()
    # The partner's API goes on, past its allowance: nothing can be counted.
    assert [api.get("/api/v1/organisations").status_code for _ in range(4)] == [200] * 4
    # Sign-in is refused with the reason, never let through uncounted, never a 500.
    paused = sign_in("alice", GOOD)
    assert paused.status_code == 503
    assert paused["Retry-After"] == "60"
    assert login_throttle.PAUSED_MESSAGE in paused.content.decode()
    assert "_auth_user_id" not in paused.client.session
    assert not Client().login(username="alice", password=GOOD)
    assert sign_in("alice", "wrong").status_code == 503

    private_cache.start()  # back, empty
    assert signed_in(sign_in("alice", GOOD))
    statuses = [api.get("/api/v1/organisations").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # counted again, from nothing
