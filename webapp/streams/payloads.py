"""A mirrored chain fact as every stream delivers it (webhooks, WebSocket, JetStream).

One shape for every transport, so a consumer can switch transports or replay from another
one: the store's global sequence number (the event row's id: increasing in the order the
mirror stored the facts), an event id that names the log for good (chain, block hash, log
index: a reorganisation gives the replacing log another id), the chain pointers, and the
fact's arguments as the contract emitted them. Arguments are the mirror's decoded args:
personal data is never in them in clear (sealed fields stay sealed), so a crypto-shredded
subject stays unreadable in every past and replayed delivery.
"""

from __future__ import annotations

from typing import Any

from webapp.chain.models import ChainEvent

#: The payload's version: bumped when a field changes meaning.
PAYLOAD_VERSION = 1


def fact_event_id(event: ChainEvent) -> str:
    """`evt_<chain id>_<block hash without 0x>_<log index>`: unique per log, stable across
    redeliveries and replays (Standard Webhooks' `webhook-id`, JetStream's `Nats-Msg-Id`)."""
    return f"evt_{event.chain_id}_{event.block_hash.removeprefix('0x')}_{event.log_index}"


def fact_payload(event: ChainEvent) -> dict[str, Any]:
    """The JSON-ready payload of one mirrored fact."""
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


def retraction_payload(event: ChainEvent) -> dict[str, Any]:
    """What a stream sends when a reorganisation removed a fact it delivered: the same id
    and pointers, type `retracted`, the retracted fact's type in `retractedType`."""
    payload = fact_payload(event)
    payload["retractedType"] = payload["type"]
    payload["type"] = "retracted"
    return payload
