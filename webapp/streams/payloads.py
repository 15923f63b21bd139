"""A mirrored chain fact as every stream delivers it (webhooks, WebSocket, JetStream).

One shape for every transport, so a consumer can switch transports or replay from another
one: the store's global sequence number (the event row's id: increasing in the order the
mirror stored the facts), an event id that names the log for good (chain, block hash, log
index: a reorganisation gives the replacing log another id), the chain pointers, and the
fact's arguments as the contract emitted them. Arguments are the mirror's decoded args:
personal data is never in them in clear (sealed fields stay sealed), so a crypto-shredded
subject stays unreadable in every past and replayed delivery.

A subscription's `format` says what a payload carries of the fact: `rest` the arguments
(`fact`), `epcis` the fact's EPCIS 2.0 event (`epcis`) instead, `both` both. The EPCIS
event is the one `webapp.epcis.facts` states for the fact (what `/epcis/events` serves for
it, except that a fact a captured EPCIS event put on the chain is stated here as derived,
not as the captured document); a fact EPCIS has no event for (a role change, a
registration of a participant) carries `"epcis": null`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webapp.chain.models import ChainEvent
from webapp.epcis.consumers import chain_facts_names
from webapp.epcis.facts import fact_event

#: The payload's version: bumped when a field changes meaning.
PAYLOAD_VERSION = 1
FORMATS = ("rest", "epcis", "both")


def fact_event_id(event: ChainEvent) -> str:
    """`evt_<chain id>_<block hash without 0x>_<log index>`: unique per log, stable across
    redeliveries and replays (Standard Webhooks' `webhook-id`, JetStream's `Nats-Msg-Id`)."""
    return f"evt_{event.chain_id}_{event.block_hash.removeprefix('0x')}_{event.log_index}"


def fact_payload(event: ChainEvent) -> dict[str, Any]:
    """The JSON-ready payload of one mirrored fact (format `rest`)."""
    return {
        "version": PAYLOAD_VERSION,
        "sequence": event.pk,
        "id": fact_event_id(event),
        "type": event.event,
        "contract": event.contract,
        "chain": {
            "chainId": event.chain_id,
            "blockNumber": event.block_number,
            "blockHash": event.block_hash,
            "blockTime": event.block_timestamp.isoformat(),
            "transactionHash": event.transaction_hash,
            "transactionIndex": event.transaction_index,
            "logIndex": event.log_index,
        },
        "fact": event.args,
    }


def fact_payloads(events: Sequence[ChainEvent], *, format: str = "rest") -> list[dict[str, Any]]:
    """The payloads of `events` in `format` (the names EPCIS needs read once for all)."""
    payloads = [fact_payload(e) for e in events]
    if format == "rest" or not events:
        return payloads
    names = chain_facts_names(chain_id=events[0].chain_id, events=events)
    for event, payload in zip(events, payloads, strict=True):
        payload["epcis"] = fact_event(event, names)
        if format == "epcis":
            del payload["fact"]
    return payloads


def retraction_payload(event: ChainEvent) -> dict[str, Any]:
    """What a stream sends when a reorganisation removed a fact it delivered: the same id
    and pointers, type `retracted`, the retracted fact's type in `retractedType`."""
    return retraction_payloads([event])[0]


def retraction_payloads(
    events: Sequence[ChainEvent], *, format: str = "rest"
) -> list[dict[str, Any]]:
    """`retraction_payload`s in `format`: in `epcis` and `both` they carry the EPCIS
    event that stated the fact, so a receiver drops it by its `eventID`."""
    payloads = fact_payloads(events, format=format)
    for payload in payloads:
        payload["retractedType"] = payload["type"]
        payload["type"] = "retracted"
    return payloads
