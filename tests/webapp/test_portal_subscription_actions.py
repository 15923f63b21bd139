"""The buttons on a subscription's page: pause and resume, rewind (refused past the
checkpoint, the value kept and the reason next to it), rotation (the new secret once, the
overlap in words), a test event, dead letters replayed one or all; the delivery log on the
page and in the status it polls, every problem in plain words."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.webapp.portal_subscriptions import (
    _loopback,
    alpha,
    create,
    page_of,
    receiver,
    secret_in,
    text,
)
from tests.webapp.streams_world import Receiver, Store, lot_registered, organisation
from webapp.portal.subscription_words import disabled_words, problem_words, start_words
from webapp.streams.delivery import RETRY_DELAYS, streams_deliver_due
from webapp.streams.models import Message, SigningSecret, Subscription
from webapp.streams.selectors import secrets_active

__all__ = ["_loopback", "alpha", "receiver"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def events(count: int) -> list[Any]:
    store = Store()
    other = organisation("gamma", 0xC3)
    return [store.add("LotRegistered", lot_registered(other, i)) for i in range(1, count + 1)]


def flash(client: Client, response: Any) -> str:
    assert response.status_code == 302, response.content.decode()[:500]
    page = text(client.get(response["Location"]))
    return unescape(page.split('<p class="flash', 1)[1].split("</p>", 1)[0])


def status(client: Client, subscription: Subscription) -> dict[str, Any]:
    answer = client.get(f"{page_of(subscription)}/status")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_pause_and_resume_stop_and_restart_deliveries(alpha: Client, receiver: Receiver) -> None:
    made = events(2)
    subscription = create(alpha, receiver)
    base = page_of(subscription)
    assert alpha.get(f"{base}/pause").status_code == 405
    assert "is paused" in flash(alpha, alpha.post(f"{base}/pause"))
    streams_deliver_due()
    assert receiver.requests == []
    page = text(alpha.get(base))
    assert 'id="resume"' in page
    assert 'id="pause"' not in page
    assert status(alpha, subscription)["state"] == "paused"
    assert "active again" in flash(alpha, alpha.post(f"{base}/resume"))
    streams_deliver_due()
    assert receiver.sequences() == [e.pk for e in made]
    assert status(alpha, subscription)["position_words"].startswith("Up to date")


def test_the_delivery_log_is_on_the_page_and_in_the_status_it_polls(
    alpha: Client, receiver: Receiver
) -> None:
    made = events(3)
    subscription = create(alpha, receiver)
    before = status(alpha, subscription)
    assert before["checkpoint"] == 0
    assert before["head"] == made[-1].pk
    assert "3 events still to go through" in before["position_words"]
    assert before["log"] == []
    assert "Nothing sent yet." in text(alpha.get(page_of(subscription)))
    streams_deliver_due()
    after = status(alpha, subscription)
    assert [row["status_words"] for row in after["log"]] == ["delivered"] * 3
    assert [row["what"] for row in after["log"]] == [f"events {e.pk}" for e in reversed(made)]
    assert after["log"][0]["response_code"] == 200
    assert after["log"][0]["at"]["text"]
    page = text(alpha.get(page_of(subscription)))  # the same rows without JavaScript
    for row in after["log"]:
        assert f'data-attempt="{row["id"]}"' in page
    assert "200 in" in page
    assert 'src="/static/portal/subscription.js"' in page


def test_a_failing_receiver_shows_the_retry_in_plain_words(
    alpha: Client, receiver: Receiver
) -> None:
    events(1)
    receiver.status_for = lambda payloads: 503
    subscription = create(alpha, receiver)
    streams_deliver_due()
    body = status(alpha, subscription)
    (row,) = body["log"]
    assert row["status_words"] == "failed, will retry"
    assert row["problem"] == "The receiver answered 503."
    assert row["next_retry"]["text"]
    assert body["waiting"].startswith("Waiting: events")
    assert "The receiver answered 503." in body["waiting"]
    receiver.down()  # nothing listens any more: the next try cannot connect
    streams_deliver_due(now=timezone.now() + timedelta(seconds=RETRY_DELAYS[1] + 1))
    newest = status(alpha, subscription)["log"][0]
    assert newest["problem"] == "The receiver refused the connection (nothing listens there)."
    page = text(alpha.get(page_of(subscription)))
    assert "Errno" not in page
    assert "Error:" not in page


def test_a_rewind_goes_back_and_a_point_past_the_checkpoint_is_refused(
    alpha: Client, receiver: Receiver
) -> None:
    made = events(3)
    subscription = create(alpha, receiver)
    streams_deliver_due()
    rewind = f"{page_of(subscription)}/rewind"
    forward = alpha.post(rewind, {"to": "sequence", "sequence": str(made[-1].pk + 5)})
    assert forward.status_code == 400
    html = unescape(text(forward))
    assert f'value="{made[-1].pk + 5}"' in html
    reason = html.split('data-field="sequence">', 1)[1].split("</p>", 1)[0]
    assert reason == f"Rewind to a point before the checkpoint (sequence {made[-1].pk})."
    missing = alpha.post(rewind, {"to": "block"})
    assert missing.status_code == 400
    assert 'data-field="block">Give the block to rewind to.' in text(missing)
    assert alpha.post(rewind, {"to": "later"}).status_code == 400
    assert Subscription.objects.get().checkpoint == made[-1].pk
    done = alpha.post(rewind, {"to": "sequence", "sequence": str(made[1].pk)})
    assert "is rewound" in flash(alpha, done)
    assert Subscription.objects.get().checkpoint == made[0].pk
    streams_deliver_due()
    assert receiver.sequences() == [e.pk for e in made]  # deduplicated by webhook-id
    assert [p["sequence"] for d in receiver.requests[3:] for p in d.payloads] == [
        e.pk for e in made[1:]
    ]
    assert "is rewound" in flash(alpha, alpha.post(rewind, {"to": "oldest"}))
    assert Subscription.objects.get().checkpoint == 0


def test_a_rotation_shows_the_new_secret_once_with_the_overlap_in_words(
    alpha: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    first = receiver.secrets[0]
    rotate = f"{page_of(subscription)}/rotate"
    assert alpha.post(rotate, {"overlap_s": "12345"}).status_code == 400
    assert SigningSecret.objects.count() == 1
    answer = alpha.post(rotate, {"overlap_s": "86400"})
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    html = unescape(text(answer))
    second = secret_in(html)
    assert second != first
    assert "For one day, until " in html
    assert "signed with both the previous secret and the new one" in html
    page = text(alpha.get(page_of(subscription)))
    assert first not in page
    assert second not in page
    assert "signs too until" in page
    receiver.secrets[:] = [second]  # the receiver switched: the new secret verifies
    alpha.post(f"{page_of(subscription)}/test")
    assert receiver.unverified == 0
    assert len(receiver.requests) == 1
    third = unescape(text(alpha.post(rotate, {"overlap_s": "0"})))
    assert "stopped signing at once" in third
    assert len(secrets_active(subscription=subscription, at=timezone.now())) == 1


def test_a_test_event_is_sent_and_logged_and_a_failure_is_said_plainly(
    alpha: Client, receiver: Receiver
) -> None:
    subscription = create(alpha, receiver)
    said = flash(alpha, alpha.post(f"{page_of(subscription)}/test"))
    assert said.endswith("ms.")
    assert "The test event was delivered: the receiver answered 200" in said
    (delivery,) = receiver.requests
    assert delivery.body["type"] == "test"
    (row,) = status(alpha, subscription)["log"]
    assert (row["what"], row["status_words"]) == ("test event", "delivered")
    assert Subscription.objects.get().checkpoint == 0
    receiver.down()
    said = flash(alpha, alpha.post(f"{page_of(subscription)}/test"))
    assert said.endswith(
        "The test event was not delivered. The receiver refused the connection"
        " (nothing listens there)."
    )
    assert status(alpha, subscription)["log"][0]["status_words"] == "failed"


def test_dead_letters_are_listed_and_replayed_one_or_all(alpha: Client, receiver: Receiver) -> None:
    made = events(3)
    receiver.status_for = lambda payloads: 500
    subscription = create(alpha, receiver, ordered="0")
    clock = timezone.now()
    streams_deliver_due(now=clock)
    for delay in RETRY_DELAYS[1:]:
        clock += timedelta(seconds=delay)
        streams_deliver_due(now=clock)
    dead = list(Message.objects.filter(status=Message.Status.DEAD).order_by("id"))
    assert [m.first_sequence for m in dead] == [e.pk for e in made]
    page = text(alpha.get(page_of(subscription)))
    assert "Replay all 3" in page
    for message in dead:
        assert f'id="dead-letter-{message.pk}"' in page
    assert status(alpha, subscription)["dead_letters"] == 3
    receiver.status_for = lambda payloads: 200
    base = f"{page_of(subscription)}/dead-letters"
    assert "no longer waiting" in flash(alpha, alpha.post(f"{base}/999999/replay"))
    assert "queued to be delivered again" in flash(alpha, alpha.post(f"{base}/{dead[0].pk}/replay"))
    streams_deliver_due()
    assert receiver.sequences() == [made[0].pk]
    assert "2 dead letters are queued" in flash(alpha, alpha.post(f"{base}/replay"))
    streams_deliver_due()
    assert receiver.sequences() == [e.pk for e in made]
    assert "no dead letters to replay" in flash(alpha, alpha.post(f"{base}/replay"))
    assert 'id="no-dead-letters"' in text(alpha.get(page_of(subscription)))


def test_a_stopped_subscription_says_why_in_plain_words(alpha: Client, receiver: Receiver) -> None:
    subscription = create(alpha, receiver)
    Subscription.objects.filter(pk=subscription.pk).update(
        state=Subscription.State.DISABLED,
        disabled_reason="10 attempts failed; the last: NewConnectionError: <urllib3.connection"
        ".HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111]"
        " Connection refused",
    )
    body = status(alpha, subscription)
    assert body["state"] == "disabled"
    assert body["disabled_reason"] == (
        "10 attempts failed; the last: The receiver refused the connection (nothing listens there)."
    )
    page = text(alpha.get(page_of(subscription)))
    assert "0x7f" not in page
    assert 'id="resume"' in page


def test_problems_in_words() -> None:
    assert problem_words("", 200) == ""
    assert problem_words("the receiver answered 500") == "The receiver answered 500."
    assert problem_words("", 410).startswith("The receiver answered 410 Gone")
    assert problem_words("ReadTimeoutError: read timed out") == (
        "The receiver did not answer in time."
    )
    assert "certificate" in problem_words("SSLError: CERTIFICATE_VERIFY_FAILED")
    assert problem_words("The URL must start with https://.") == (
        "The URL must start with https://."
    )
    assert problem_words("KeyError: 'x'") == "The receiver could not be reached."
    assert disabled_words("The endpoint answered 410 Gone.") == "The endpoint answered 410 Gone."
    assert start_words("oldest") == "from the oldest event"
    assert start_words("sequence:12") == "from sequence 12"
    assert start_words("block:40") == "from block 40"
