"""Webhook delivery against a receiver built on the `standardwebhooks` package: every visible
fact arrives once, in order, signed; invisible ones never; a receiver that is down, answers
500 or 410, a rewind, a secret rotation and a reorganisation each do what the issue says.

Delivery is driven by calling the task's function with a clock the test moves, never by
sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from contracts.chain.domain import Role
from tests.webapp.streams_world import T0, Receiver, Store, handoff, lot_registered, organisation
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumers_rollback
from webapp.organisations.models import Organisation
from webapp.streams import delivery, request
from webapp.streams.delivery import RETRY_DELAYS, streams_deliver_due, subscription_deliver
from webapp.streams.models import DeliveryAttempt, Message, Subscription
from webapp.streams.services import (
    Start,
    dead_letter_replay,
    secret_rotate,
    subscription_create,
    subscription_resume,
    subscription_rewind,
)
from workers.tasks import streams_deliver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.STREAMS_READ_TIMEOUT_S = 5


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    return {
        "a": organisation("alpha", 0xA1),
        "b": organisation("beta", 0xB2),
        "c": organisation("gamma", 0xC3),
        "audit": organisation("audit", 0xD4, Role.AUDITOR),
    }


def subscribe(org: Organisation, receiver: Receiver, **options: Any) -> Subscription:
    filters = {k: options.pop(k) for k in ("event_types", "lot_ids", "own_only") if k in options}
    created = subscription_create(
        organisation=org,
        name="erp",
        url=receiver.url,
        start=Start(options.pop("start", "oldest")),
        filters=filters,
        options=options,
        now=T0,
    )
    receiver.secrets.append(created.secret)
    return created.subscription


def deliver_until_idle(at: Any, rounds: int = 20) -> int:
    """Run the task's function until a run delivers nothing (bounded)."""
    total = 0
    for _ in range(rounds):
        done = streams_deliver_due(now=at)
        total += done
        if not done:
            return total
    raise AssertionError("delivery did not settle")


def a_world(store: Store, orgs: dict[str, Organisation]) -> dict[str, ChainEvent]:
    a, b, c = orgs["a"], orgs["b"], orgs["c"]
    return {
        "b_registers": store.add("LotRegistered", lot_registered(b, 1)),  # public
        "b_to_c": store.add("HandoffInitiated", handoff(b, c, 1)),  # not a's
        "b_to_a": store.add("HandoffInitiated", handoff(b, a, 1)),  # a's own
        "c_roles": store.add("ParticipantRolesChanged", {"account": c.address, "roles": 2}),
        "a_accepts": store.add("HandoffAccepted", handoff(b, a, 1)),
        "cert": store.add(
            "CertificateIssued", {"certificateId": 1, "subjectKind": 2, "subject": 9}
        ),
    }


def test_every_visible_event_arrives_once_in_order_and_invisible_ones_never(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    world = a_world(store, orgs)
    subscription = subscribe(orgs["a"], receiver)
    deliver_until_idle(T0)
    deliver_until_idle(T0 + timedelta(seconds=1))  # nothing new: nothing sent again
    wanted = ["b_registers", "b_to_a", "a_accepts", "cert"]
    assert receiver.sequences() == [world[k].pk for k in wanted]
    assert len(receiver.requests) == len(wanted)
    assert receiver.unverified == 0
    first = receiver.accepted[0]
    assert first.body["type"] == "LotRegistered"
    assert first.webhook_id == first.body["data"]["id"]
    subscription.refresh_from_db()
    assert subscription.checkpoint == world["cert"].pk
    later = store.add("HandoffInitiated", handoff(orgs["c"], orgs["b"], 2))
    deliver_until_idle(T0 + timedelta(seconds=2))
    subscription.refresh_from_db()
    assert subscription.checkpoint == later.pk  # skipped, not delivered
    assert len(receiver.requests) == len(wanted)


def test_an_auditor_sees_every_fact_and_the_filter_narrows_it(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    world = a_world(store, orgs)
    subscribe(orgs["audit"], receiver, event_types=["HandoffInitiated"])
    deliver_until_idle(T0)
    assert receiver.sequences() == [world["b_to_c"].pk, world["b_to_a"].pk]


def test_own_only_and_lot_filters_narrow_what_a_member_sees(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    world = a_world(store, orgs)
    other = store.add("LotRegistered", lot_registered(orgs["b"], 7))
    subscribe(orgs["a"], receiver, own_only=True)
    deliver_until_idle(T0)
    assert receiver.sequences() == [world["b_to_a"].pk, world["a_accepts"].pk]
    second = Receiver().up()
    try:
        subscribe(orgs["a"], second, lot_ids=[7])
        deliver_until_idle(T0)
        assert second.sequences() == [other.pk]
    finally:
        second.down()


def test_batches_fill_up_or_go_out_after_their_timeout(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 4)]
    subscribe(orgs["a"], receiver, batch_size=2, batch_timeout_s=10)
    deliver_until_idle(T0)
    assert [len(d.payloads) for d in receiver.accepted] == [2]
    assert receiver.accepted[0].body["type"] == "batch"
    assert receiver.accepted[0].webhook_id.startswith("batch_")
    deliver_until_idle(T0 + timedelta(seconds=9))
    assert len(receiver.accepted) == 1  # the short batch waits
    deliver_until_idle(T0 + timedelta(seconds=11))
    assert receiver.sequences() == [e.pk for e in events]


def test_a_receiver_down_for_a_while_loses_nothing_and_keeps_the_order(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 6)]
    subscription = subscribe(orgs["a"], receiver)
    receiver.down()
    clock = T0
    for delay in RETRY_DELAYS[1:4]:
        streams_deliver_due(now=clock)
        clock += timedelta(seconds=delay)
    subscription.refresh_from_db()
    assert subscription.checkpoint == 0
    assert subscription.state == Subscription.State.ACTIVE
    failed = DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.FAILED)
    assert failed.count() == 3
    assert {a.message_id for a in failed} == {receiver_id(events[0])}
    receiver.up()
    deliver_until_idle(clock)
    assert receiver.sequences() == [e.pk for e in events]


def receiver_id(event: ChainEvent) -> str:
    return f"evt_{event.chain_id}_{event.block_hash.removeprefix('0x')}_{event.log_index}"


def test_ordered_waits_on_a_failing_event_and_gives_up_by_disabling(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 5)]
    poison = receiver_id(events[1])
    receiver.status_for = lambda payloads: 500 if payloads[0]["id"] == poison else 200
    subscription = subscribe(orgs["a"], receiver)
    clock = T0
    for delay in RETRY_DELAYS[1:]:
        streams_deliver_due(now=clock)
        assert receiver.sequences() == [events[0].pk]  # the rest waits behind the failure
        clock += timedelta(seconds=delay)
    streams_deliver_due(now=clock)  # the tenth attempt fails too
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.DISABLED
    assert "10 attempts failed" in subscription.disabled_reason
    assert subscription.checkpoint == events[0].pk
    receiver.status_for = lambda payloads: 200
    subscription_resume(subscription=subscription, now=clock)
    deliver_until_idle(clock)
    assert receiver.sequences() == [e.pk for e in events]


def test_unordered_dead_letters_a_failing_event_the_others_flow_and_a_replay_delivers_it(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 5)]
    poison = receiver_id(events[1])
    receiver.status_for = lambda payloads: 500 if payloads[0]["id"] == poison else 200
    subscription = subscribe(orgs["a"], receiver, ordered=False)
    clock = T0
    streams_deliver_due(now=clock)
    assert receiver.sequences() == [events[0].pk, events[2].pk, events[3].pk]
    for delay in RETRY_DELAYS[1:]:
        clock += timedelta(seconds=delay)
        streams_deliver_due(now=clock)
    (dead,) = Message.objects.filter(subscription=subscription, status=Message.Status.DEAD)
    assert dead.message_id == poison
    assert dead.attempts == len(RETRY_DELAYS)
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.ACTIVE
    receiver.status_for = lambda payloads: 200
    assert dead_letter_replay(subscription=subscription, now=clock) == 1
    deliver_until_idle(clock)
    assert sorted(receiver.sequences()) == [e.pk for e in events]
    assert not Message.objects.filter(subscription=subscription).exists()


def test_410_disables_the_subscription(receiver: Receiver, orgs: dict[str, Organisation]) -> None:
    store = Store()
    store.add("LotRegistered", lot_registered(orgs["b"], 1))
    receiver.status_for = lambda payloads: 410
    subscription = subscribe(orgs["a"], receiver)
    streams_deliver_due(now=T0)
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.DISABLED
    assert "410" in subscription.disabled_reason
    assert subscription.checkpoint == 0
    streams_deliver_due(now=T0 + timedelta(days=2))
    assert len(receiver.requests) == 1


def test_a_rewind_replays_exactly_the_range_asked(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 6)]
    subscription = subscribe(orgs["a"], receiver)
    deliver_until_idle(T0)
    before = len(receiver.requests)
    subscription_rewind(subscription=subscription, to=Start("sequence", sequence=events[2].pk))
    deliver_until_idle(T0 + timedelta(seconds=1))
    replayed = [p["sequence"] for d in receiver.requests[before:] for p in d.payloads]
    assert replayed == [e.pk for e in events[2:]]
    # the same ids as the first time: a deduplicating receiver takes each fact once
    assert receiver.sequences() == [e.pk for e in events]


def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    subscription = subscribe(orgs["a"], receiver)
    (old,) = receiver.secrets
    new = secret_rotate(subscription=subscription, overlap=timedelta(hours=1), now=T0)
    assert new.startswith("whsec_")
    assert new != old
    receiver.secrets = [old, new]
    store.add("LotRegistered", lot_registered(orgs["b"], 1))
    deliver_until_idle(T0 + timedelta(minutes=30))
    (during,) = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Receiver(secrets=[secret]).verify(during.raw, during.headers) is not None
    store.add("LotRegistered", lot_registered(orgs["b"], 2))
    deliver_until_idle(T0 + timedelta(hours=2))
    after = receiver.requests[-1]
    assert len(receiver.requests) == 2
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Receiver(secrets=[old]).verify(after.raw, after.headers) is None
    assert Receiver(secrets=[new]).verify(after.raw, after.headers) is not None


def test_a_reorganisation_retracts_the_delivered_facts_it_removed(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    kept = store.add("LotRegistered", lot_registered(orgs["b"], 1))
    fork = kept.block_number
    gone = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in (2, 3, 4)]
    subscribe(orgs["a"], receiver)
    deliver_until_idle(T0)
    # What the indexer does: the consumers roll back, then the rows above the fork go.
    consumers_rollback(chain_id=store.chain_id, to_block=fork)
    ChainEvent.objects.filter(block_number__gt=fork).delete()
    store.block = fork
    fresh = store.add("LotRegistered", lot_registered(orgs["b"], 5))
    deliver_until_idle(timezone.now())  # the rollback queued its retractions on the real clock
    after = receiver.accepted[4:]
    assert [d.body["type"] for d in after] == ["retracted"] * 3 + ["LotRegistered"]
    assert [d.body["data"]["id"] for d in after[:3]] == [receiver_id(e) for e in gone]
    assert all(d.webhook_id.endswith("_retracted") for d in after[:3])
    assert after[0].body["data"]["retractedType"] == "LotRegistered"
    assert after[3].body["data"]["sequence"] == fresh.pk


def test_with_confirmations_only_events_deep_enough_are_delivered(
    receiver: Receiver, orgs: dict[str, Organisation]
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 4)]
    subscribe(orgs["a"], receiver, confirmations=2)
    deliver_until_idle(T0)
    assert receiver.sequences() == [events[0].pk]
    store.add("ParticipantRolesChanged", {"account": orgs["c"].address, "roles": 2})
    deliver_until_idle(T0)
    assert receiver.sequences() == [events[0].pk, events[1].pk]


def test_a_held_subscription_is_skipped_and_one_that_raises_holds_up_no_other(
    receiver: Receiver, orgs: dict[str, Organisation], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store()
    store.add("LotRegistered", lot_registered(orgs["b"], 1))
    broken = subscribe(orgs["b"], receiver)
    held = subscribe(orgs["c"], receiver)
    Subscription.objects.filter(pk=held.pk).update(leased_until=T0 + timedelta(minutes=1))
    fine = subscribe(orgs["a"], receiver)
    real_form = delivery._form

    def form(subscription: Subscription, now: Any, **kwargs: Any) -> Any:
        if subscription.pk == broken.pk:
            raise RuntimeError("boom")
        return real_form(subscription, now, **kwargs)

    monkeypatch.setattr(delivery, "_form", form)
    assert subscription_deliver(subscription_id=held.pk, now=T0) == 0
    assert streams_deliver_due(now=T0) == 1
    assert DeliveryAttempt.objects.get().subscription_id == fine.pk
    broken.refresh_from_db()
    assert broken.leased_until is None  # released despite the failure


def test_the_task_delivers(receiver: Receiver, orgs: dict[str, Organisation]) -> None:
    store = Store()
    store.add("LotRegistered", lot_registered(orgs["b"], 1))
    subscribe(orgs["a"], receiver)
    assert streams_deliver.name == "streams.deliver"
    assert streams_deliver.apply().get() == 1


class Killed(BaseException):
    """A worker killed mid-send: nothing after the request runs."""


def test_a_worker_killed_after_sending_leads_only_to_the_same_webhook_id_again(
    receiver: Receiver, orgs: dict[str, Organisation], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store()
    events = [store.add("LotRegistered", lot_registered(orgs["b"], i)) for i in range(1, 4)]
    subscription = subscribe(orgs["a"], receiver, batch_size=2, batch_timeout_s=0)
    real_post = request.http_post

    def post_then_die(**kwargs: Any) -> int:
        real_post(**kwargs)
        raise Killed

    monkeypatch.setattr(request, "http_post", post_then_die)
    with pytest.raises(Killed):
        subscription_deliver(subscription_id=subscription.pk, now=T0)
    # SIGKILL runs no `finally`: the dead worker's lease stays until it runs out.
    Subscription.objects.filter(pk=subscription.pk).update(leased_until=T0 + delivery.LEASE)
    monkeypatch.setattr(request, "http_post", real_post)
    assert streams_deliver_due(now=T0 + timedelta(minutes=1)) == 0  # still held
    deliver_until_idle(T0 + delivery.LEASE + timedelta(seconds=1))
    ids = [d.webhook_id for d in receiver.requests]
    assert ids[0] == ids[1]  # the batch again, under its id
    assert len(set(ids)) == len(ids) - 1
    assert receiver.sequences() == [e.pk for e in events]
