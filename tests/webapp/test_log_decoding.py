"""The event store's fast log decoding gives exactly what `contracts.chain.events.decode_log`
gives, for every event of the system, and leaves anything unusual to it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from eth_abi.abi import encode

from contracts.chain.events import EventSpec, UndecodableLog, decode_log, event_specs
from webapp.chain.log_decoding import store_decode

pytestmark = pytest.mark.unit


def value(kind: str, rng: random.Random) -> Any:
    if kind.endswith("[]"):
        return [value(kind[:-2], rng) for _ in range(rng.randrange(4))]
    if kind == "address":
        return "0x" + rng.randbytes(20).hex()
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "string":
        return rng.choice(["", "too warm", "ünïcode", "nul\x00inside", "x" * 70])
    if kind.startswith("uint"):
        return rng.randrange(1 << int(kind[4:]))
    if kind.startswith("int"):
        half = 1 << (int(kind[3:]) - 1)
        return rng.randrange(-half, half)
    return rng.randbytes(int(kind[5:]))


def log_of(spec: EventSpec, rng: random.Random) -> tuple[list[bytes], bytes]:
    topics = [spec.topic0]
    for _, kind in spec.indexed:
        topics.append(encode([kind], [value(kind, rng)]))
    data = encode([k for _, k in spec.data], [value(k, rng) for _, k in spec.data])
    return topics, data


@pytest.mark.parametrize("spec", list(event_specs().values()), ids=lambda s: s.name)
def test_every_event_decodes_as_decode_log_does(spec: EventSpec) -> None:
    rng = random.Random(spec.name)
    for _ in range(20):
        topics, data = log_of(spec, rng)
        assert store_decode(topics, data) == decode_log(topics, data)


def outcome(topics: list[bytes], data: bytes) -> Any:
    try:
        return decode_log(topics, data)
    except UndecodableLog as exc:
        return str(exc)


def fast_outcome(topics: list[bytes], data: bytes) -> Any:
    try:
        return store_decode(topics, data)
    except UndecodableLog as exc:
        return str(exc)


def test_odd_encodings_get_what_decode_log_says() -> None:
    specs = {s.name: s for s in event_specs().values()}
    rng = random.Random(7)
    single = specs["TransferSingle"]
    topics, data = log_of(single, rng)
    quarantine = specs["QuarantineSet"]
    q_topics, q_data = log_of(quarantine, rng)
    cases = [
        (topics, data[:-1]),  # short
        (topics, data + bytes(32)),  # trailing word
        (topics[:-1], data),  # a topic missing
        (q_topics, q_data[:32] + (64).to_bytes(32, "big") + q_data[64:]),  # odd offset
        (q_topics, q_data[:-1] + b"\x01"),  # dirty padding
        ([b"\x01" * 32], data),  # unknown event
        ([], data),  # anonymous
    ]
    for case_topics, case_data in cases:
        assert fast_outcome(case_topics, case_data) == outcome(case_topics, case_data)


def test_the_stored_content_hash_is_the_content_hash_of_the_event() -> None:
    from webapp.chain.indexer import content_hash, event_content
    from webapp.chain.log_decoding import stored_content_hash

    rng = random.Random(3)
    for spec in event_specs().values():
        _, args = decode_log(*log_of(spec, rng))
        place: dict[str, Any] = {
            "chain_id": 31337, "block_number": 12, "block_hash": "0x" + "ab" * 32,
            "transaction_hash": '0x"quoted"', "log_index": 3,
            "address": "0x" + "Cd" * 20, "event": spec.name,
        }  # fmt: skip
        document = json.dumps(args, sort_keys=True, separators=(",", ":"))
        assert stored_content_hash(**place, args_json=document) == content_hash(
            event_content(**place, args=args)
        )
