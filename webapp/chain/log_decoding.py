"""The event store's per-log work: decoding (`contracts.chain.events.decode_log`, with a fast
path) and the content hash.

Nearly every log the system emits is the canonical ABI encoding solc produces: static
words (integers, addresses, booleans, bytesN) and, for strings and arrays of static
values, an offset to a length-prefixed tail laid out in order. Those are read here by
slicing 32-byte words. Anything else — a non-canonical layout, a bad padding, an
out-of-range value, a type not listed below — goes through `decode_log` (eth_abi), which
decides what it means, including that the log is undecodable. The two paths give the
same arguments for the same log.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from eth_hash.auto import keccak

from contracts.chain import events as event_decoding
from contracts.chain.events import EventSpec

Word = bytes
_ZERO12 = bytes(12)


class _NotCanonical(Exception):
    """Leave this log to eth_abi."""


_UPPER = frozenset("89abcdef")


@functools.lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    """EIP-55 of a lowercase "0x" + 40 hex digits (what `to_checksum_address` returns,
    without its validation of input this module built itself: a quarter of the cost)."""
    digits = address[2:]
    digest = keccak(digits.encode()).hex()
    return "0x" + "".join(
        c.upper() if d in _UPPER else c for c, d in zip(digits, digest, strict=False)
    )


def _address(word: Word) -> str:
    if word[:12] != _ZERO12:
        raise _NotCanonical
    return _checksum("0x" + word[12:].hex())


def _boolean(word: Word) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise _NotCanonical
    return value == 1


def _uint(bits: int) -> Callable[[Word], Any]:
    bound = 1 << bits

    def uint(word: Word) -> int:
        value = int.from_bytes(word, "big")
        if value >= bound:
            raise _NotCanonical
        return value

    return uint


def _sint(bits: int) -> Callable[[Word], Any]:
    half = 1 << (bits - 1)

    def sint(word: Word) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if not -half <= value < half:
            raise _NotCanonical
        return value

    return sint


def _fixed(size: int) -> Callable[[Word], Any]:
    padding = bytes(32 - size)

    def fixed(word: Word) -> str:
        if word[size:] != padding:
            raise _NotCanonical
        return "0x" + word[:size].hex()

    return fixed


_SCALARS: dict[str, Callable[[Word], Any]] = {"address": _address, "bool": _boolean}
# Sized types: the prefix, and the reader of that size ("uint" and "int" never overlap).
_SIZED_SCALARS: tuple[tuple[str, Callable[[int], Callable[[Word], Any]]], ...] = (
    ("uint", _uint),
    ("int", _sint),
    ("bytes", _fixed),
)


def _scalar(kind: str) -> Callable[[Word], Any] | None:
    """A reader of one canonical word of a static type (None: not handled here).

    Built once per event type, not per log."""
    read = _SCALARS.get(kind)
    if read is not None:
        return read
    for prefix, sized in _SIZED_SCALARS:
        size = kind[len(prefix) :]
        if kind.startswith(prefix) and size.isdigit():
            return sized(int(size))
    return None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


Reader = Callable[[bytes, int, int], tuple[Any, int]]  # (data, head word, tail) -> value, tail


def _static(read: Callable[[Word], Any]) -> Reader:
    def static(data: bytes, at: int, tail: int) -> tuple[Any, int]:
        return read(data[at : at + 32]), tail

    return static


def _string(data: bytes, at: int, tail: int) -> tuple[Any, int]:
    if int.from_bytes(data[at : at + 32], "big") != tail:
        raise _NotCanonical  # tails laid out in order, right after the head
    length = int.from_bytes(data[tail : tail + 32], "big")
    padded = -(-length // 32) * 32
    body = data[tail + 32 : tail + 32 + padded]
    if len(body) != padded or any(body[length:]):
        raise _NotCanonical
    return _text(body[:length]), tail + 32 + padded


def _array(read_item: Callable[[Word], Any]) -> Reader:
    def array(data: bytes, at: int, tail: int) -> tuple[Any, int]:
        if int.from_bytes(data[at : at + 32], "big") != tail:
            raise _NotCanonical
        length = int.from_bytes(data[tail : tail + 32], "big")
        start, end = tail + 32, tail + 32 + 32 * length
        if end > len(data):
            raise _NotCanonical
        return [read_item(data[i : i + 32]) for i in range(start, end, 32)], end

    return array


def _reader(kind: str) -> Reader | None:
    """A reader of one argument in the data: a static word, or a string or array of static
    values in the tail (None: not handled here). Built once per event type, not per log."""
    scalar = _scalar(kind)
    if scalar is not None:
        return _static(scalar)
    if kind == "string":
        return _string
    item = _scalar(kind[:-2]) if kind.endswith("[]") else None
    return None if item is None else _array(item)


def _topic(kind: str) -> Callable[[bytes], Any] | None:
    """Indexed values as `contracts.chain.events` reads them (static types only)."""
    if kind == "address":
        return lambda topic: _checksum("0x" + topic[12:].hex())
    if kind.startswith("uint"):
        return lambda topic: int.from_bytes(topic, "big")
    if kind.startswith("int"):
        return lambda topic: int.from_bytes(topic, "big", signed=True)
    if kind == "bool":
        return lambda topic: topic[-1] == 1
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        return lambda topic: "0x" + topic[:size].hex()
    return None


Decoder = Callable[[list[bytes], bytes], dict[str, Any]]


def _fast(spec: EventSpec) -> Decoder | None:
    topics = [(name, _topic(kind)) for name, kind in spec.indexed]
    readers = [(name, _reader(kind)) for name, kind in spec.data]
    if any(t is None for _, t in topics) or any(r is None for _, r in readers):
        return None
    head = 32 * len(readers)
    order = spec.order

    def decode(log_topics: list[bytes], data: bytes) -> dict[str, Any]:
        if len(log_topics) != len(topics) + 1 or len(data) < head:
            raise _NotCanonical
        args: dict[str, Any] = {}
        for (name, read_topic), topic in zip(topics, log_topics[1:], strict=True):
            args[name] = read_topic(topic)  # type: ignore[misc]
        tail = head
        for i, (name, read) in enumerate(readers):
            args[name], tail = read(data, 32 * i, tail)  # type: ignore[misc]
        if tail != len(data):
            raise _NotCanonical
        return {name: args[name] for name in order}

    return decode


_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii

_decoders: dict[str, Any] = {"specs": None, "by_topic": {}}


def _fast_decoders() -> dict[bytes, tuple[EventSpec, Decoder | None]]:
    """The fast decoders of the events `contracts.chain.events` knows now (built again when its
    table of events is another one)."""
    specs = event_decoding.event_specs()
    if _decoders["specs"] is not specs:
        _decoders["by_topic"] = {topic0: (spec, _fast(spec)) for topic0, spec in specs.items()}
        _decoders["specs"] = specs
    found: dict[bytes, tuple[EventSpec, Decoder | None]] = _decoders["by_topic"]
    return found


def store_decode(topics: list[bytes], data: bytes) -> tuple[EventSpec, dict[str, Any]]:
    """What `decode_log` returns (and raises), faster for canonical encodings."""
    found = _fast_decoders().get(topics[0]) if topics else None
    if found is not None and found[1] is not None:
        try:
            return found[0], found[1](topics, data)
        except _NotCanonical:
            pass
    return event_decoding.decode_log(topics, data)


def stored_content_hash(
    *,
    chain_id: int,
    block_number: int,
    block_hash: str,
    transaction_hash: str,
    log_index: int,
    address: str,
    event: str,
    args_json: str,
) -> str:
    """`content_hash` of `event_content(...)`, around args already in canonical JSON (the
    store writes that same document): the keys below are in sorted order."""
    quote = _json_string  # what json.dumps writes for a str (ASCII only, escaped)
    text = (
        f'{{"address":{quote(address)},"args":{args_json},'
        f'"blockHash":{quote(block_hash)},"blockNumber":{int(block_number)},'
        f'"chainId":{int(chain_id)},"event":{quote(event)},"logIndex":{int(log_index)},'
        f'"transactionHash":{quote(transaction_hash)}}}'
    )
    return "0x" + hashlib.sha256(text.encode()).hexdigest()
