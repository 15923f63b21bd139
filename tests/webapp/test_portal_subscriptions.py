"""The portal's subscriptions page: a subscription made through the same service as the
API (its secret shown once, in the answer to the create only), the list, a change, a
delete after a confirmation; refusals keep what was typed and say why next to the field;
another organisation's subscription is a 404, a person outside any organisation a 403, and
every POST needs its CSRF token."""

from __future__ import annotations

from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from contracts.chain.domain import Role
from tests.webapp.network import PASSWORD
from tests.webapp.portal_subscriptions import (
    NEW,
    _loopback,
    alpha,
    beta,
    create,
    form,
    member_of,
    page_of,
    receiver,
    secret_in,
    text,
)
from tests.webapp.streams_world import Receiver, Store, lot_registered, organisation
from webapp.organisations.models import Organisation
from webapp.portal.access import ACTIONS
from webapp.streams.models import SigningSecret, Subscription

__all__ = ["_loopback", "alpha", "beta", "receiver"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_subscription_is_created_and_its_secret_is_shown_once(
    alpha: Client, receiver: Receiver
) -> None:
    assert 'href="/subscriptions">Subscriptions</a>' in text(alpha.get("/"))
    listing = text(alpha.get("/subscriptions"))
    assert "No subscriptions yet." in listing
    assert 'href="/subscriptions/new"' in listing
    page = text(alpha.get(NEW))
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    response = alpha.post(NEW, form(receiver.url, idempotency_key=key))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = text(response)
    secret = secret_in(html)
    assert "the only time it is shown" in html
    subscription = Subscription.objects.get()
    assert SigningSecret.objects.get().secret == secret
    assert subscription.url == receiver.url
    assert subscription.organisation.slug == "alpha"
    for path in ("/subscriptions", page_of(subscription), f"{page_of(subscription)}/status"):
        shown = alpha.get(path)
        assert shown.status_code == 200
        assert secret not in text(shown)
    assert "erp" in text(alpha.get("/subscriptions"))
    # The form sent again (a reload, a double click): the same subscription, no secret.
    again = alpha.post(NEW, form(receiver.url, idempotency_key=key))
    assert again.status_code == 302
    assert again["Location"] == page_of(subscription)
    assert Subscription.objects.count() == 1
    assert secret not in text(alpha.get(again["Location"]))


def test_the_filter_start_and_options_reach_the_subscription(
    alpha: Client, receiver: Receiver
) -> None:
    store = Store()
    other = organisation("gamma", 0xC3)
    early = store.add("LotRegistered", lot_registered(other, 1))  # 00:01:41 UTC
    store.block = 300
    store.add("LotRegistered", lot_registered(other, 2))  # 00:05:01 UTC
    Organisation.objects.filter(slug="alpha").update(time_zone="Europe/Oslo")
    created = create(
        alpha,
        receiver,
        start="time",
        time="2026-01-01T01:03",  # 00:03 UTC: after the first event, before the second
        event_types=["LotRegistered", "HandoffInitiated"],
        lot_ids="7, 3 7",
        own_only="on",
        batch_size="10",
        batch_timeout_s="30",
        confirmations="2",
        ordered="0",
    )
    assert created.checkpoint == early.pk
    assert created.start == "time:2026-01-01T01:03:00+01:00"  # the reader's time zone
    assert created.event_types == ["HandoffInitiated", "LotRegistered"]
    assert created.lot_ids == [3, 7]
    assert created.own_only is True
    assert (created.batch_size, created.batch_timeout_s, created.confirmations) == (10, 30, 2)
    assert created.ordered is False
    page = text(alpha.get(page_of(created)))
    assert "Up to 10 events per request" in page
    assert "lot 3, lot 7" in page
    assert "Unordered" in page
    assert "Started from 1 Jan 2026, 01:03 CET." in page


def test_a_refused_create_keeps_the_input_and_says_why_next_to_the_field(
    alpha: Client, receiver: Receiver
) -> None:
    cases = {
        "url": [
            (form("not a url"), "Enter a valid URL."),
            (form("https://10.1.2.3/hooks"), "private, loopback or link-local"),
            (form("http://93.184.216.34/hooks"), "must start with https://"),
            (form("https://user:pw@93.184.216.34/hooks"), "user name or password"),
        ],
        "sequence": [(form(receiver.url, start="sequence"), "Give the sequence to start from.")],
        "time": [(form(receiver.url, start="time", time="yesterday"), "Enter a valid date/time.")],
        "event_types": [(form(receiver.url, event_types=["Nope"]), "Select a valid choice.")],
        "lot_ids": [
            (form(receiver.url, lot_ids="12 abc"), "'abc' is not a lot id"),
            (form(receiver.url, lot_ids="0"), "not a lot id on the chain"),
        ],
        "batch_size": [(form(receiver.url, batch_size="0"), "greater than or equal to 1")],
        "confirmations": [(form(receiver.url, confirmations="5000"), "less than or equal to")],
    }
    for field, attempts in cases.items():
        for data, reason in attempts:
            response = alpha.post(NEW, {**data, "name": "kept name"})
            assert response.status_code == 400, (field, data)
            html = text(response)
            error = html.split(f'data-field="{field}">', 1)
            assert len(error) == 2, (field, html)
            assert reason in unescape(error[1].split("</p>", 1)[0]), (field, error[1][:200])
            assert 'value="kept name"' in html
            assert "Traceback" not in html
            assert "Errno" not in html
    assert not Subscription.objects.exists()


def test_a_change_is_checked_like_a_create_and_a_refused_one_changes_nothing(
    alpha: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    edit = f"{page_of(subscription)}/edit"
    page = text(alpha.get(edit))
    assert f'value="{receiver.url}"' in page
    assert "signing-secret" not in page
    refused = alpha.post(edit, form("https://10.9.9.9/x", name="renamed"))
    assert refused.status_code == 400
    html = text(refused)
    assert 'data-field="url">' in html
    assert "private, loopback or link-local" in html
    assert 'value="https://10.9.9.9/x"' in html
    assert Subscription.objects.get().name == "erp"
    changed = alpha.post(edit, form(receiver.url, name="renamed", batch_size="20", ordered="0"))
    assert changed.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.batch_size, subscription.ordered) == (
        "renamed",
        20,
        False,
    )
    assert "The subscription is changed." in text(alpha.get(changed["Location"]))


def test_a_delete_asks_first_and_then_removes_the_subscription(
    alpha: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    delete = f"{page_of(subscription)}/delete"
    confirm = text(alpha.get(delete))
    assert "cannot be undone" in confirm
    assert Subscription.objects.exists()
    response = alpha.post(delete)
    assert response.status_code == 302
    assert response["Location"] == "/subscriptions"
    assert not Subscription.objects.exists()
    assert "erp is deleted" in text(alpha.get("/subscriptions"))


def test_another_organisations_subscription_is_not_found_and_nothing_changes(
    alpha: Client, beta: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    base = page_of(subscription)
    assert "erp" not in text(beta.get("/subscriptions"))
    for path in ("", "/status", "/edit", "/delete"):
        assert beta.get(base + path).status_code == 404, path
    posts = {
        "/edit": form("https://93.184.216.34/x", name="theirs"),
        "/delete": {},
        "/pause": {},
        "/resume": {},
        "/rewind": {"to": "oldest"},
        "/rotate": {"overlap_s": "0"},
        "/test": {},
        "/dead-letters/replay": {},
        "/dead-letters/1/replay": {},
    }
    for path, data in posts.items():
        assert beta.post(base + path, data).status_code == 404, path
    after = Subscription.objects.get()
    assert (after.name, after.state, after.url) == ("erp", "active", receiver.url)
    assert SigningSecret.objects.count() == 1
    assert not after.attempts.exists()
    assert receiver.requests == []


def test_a_person_outside_any_organisation_is_refused_and_a_stranger_must_log_in(
    alpha: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    get_user_model().objects.create_user(username="loner", password=PASSWORD)
    loner = Client()
    assert loner.login(username="loner", password=PASSWORD)
    assert loner.get("/subscriptions").status_code == 403
    assert loner.post(f"{page_of(subscription)}/pause").status_code == 403
    stranger = Client()
    answer = stranger.get(page_of(subscription))
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]
    assert stranger.post(f"{page_of(subscription)}/pause").status_code == 302
    assert Subscription.objects.get().state == "active"


def test_every_post_needs_its_csrf_token(alpha: Client, receiver: Receiver) -> None:
    subscription = create(alpha, receiver)
    guarded = Client(enforce_csrf_checks=True)
    guarded.cookies = alpha.cookies
    base = page_of(subscription)
    for path in ("/pause", "/rotate", "/test", "/delete", "/rewind", "/edit"):
        assert guarded.post(base + path, {"overlap_s": "0"}).status_code == 403, path
    assert guarded.post(NEW, form(receiver.url)).status_code == 403
    page = text(guarded.get(base))
    forms_on_page = page.split("<form")[1:]
    posts = [f for f in forms_on_page if 'method="post"' in f.split(">", 1)[0]]
    assert len(posts) >= 4
    assert all("csrfmiddlewaretoken" in f.split("</form>", 1)[0] for f in posts)
    token = guarded.cookies["csrftoken"].value
    assert guarded.post(base + "/pause", {"csrfmiddlewaretoken": token}).status_code == 302
    assert Subscription.objects.get().state == "paused"
    assert receiver.requests == []


def test_every_member_may_manage_subscriptions_whatever_the_roles(receiver: Receiver) -> None:
    """As in the API: a subscription is the organisation's own integration, not a fact on
    chain, so no role restricts it (an organisation without one may subscribe too)."""
    for name in (n for n in ACTIONS if n.startswith(("subscription-", "dead-letter"))):
        assert ACTIONS[name].any_member, name
    roleless = member_of(organisation("delta", 0xD4, roles=Role(0)), "dora")
    assert 'href="/subscriptions/new"' in text(roleless.get("/subscriptions"))
    subscription = create(roleless, receiver)
    assert roleless.post(f"{page_of(subscription)}/pause").status_code == 302
