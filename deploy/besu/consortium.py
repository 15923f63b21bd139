"""The consortium file: the network's settings and its members, one node each.

`generate` reads it (see consortium.example.toml) and writes a normalised copy into the
network directory; the day-2 commands read and rewrite that copy, so it is always the record
of who is in the network. Every value is checked here, with a message that names the member
and the key, before anything is written.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploy.besu.keys import InvalidKey, address_of, checked_address, checked_public_key

ROLES = ("validator", "rpc")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
DEFAULT_HSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


class ConsortiumError(ValueError):
    """The consortium file, or a requested change to it, cannot be used."""


@dataclass(frozen=True)
class Member:
    slug: str
    name: str
    host: str
    p2p_port: int
    rpc_port: int
    metrics_port: int
    role: str
    #: The organisation's signing accounts (lower-case), allow-listed to send transactions.
    accounts: tuple[str, ...] = ()
    #: The node key's public half when the key is held outside the directory (an HSM); None:
    #: the key is the file nodes/<slug>/key.
    public_key: str | None = None
    hsm_key_alias: str | None = None
    #: Extra Host header names its JSON-RPC accepts (a load balancer in front of an rpc node).
    rpc_allowlist: tuple[str, ...] = ()
    #: Set between `rotate-node-key` and `rotate-node-key --finish`: the key being replaced.
    previous_public_key: str | None = None

    @property
    def is_validator(self) -> bool:
        return self.role == "validator"


@dataclass(frozen=True)
class Transition:
    """A change of the block period from a block number on (never a timestamp)."""

    block: int
    block_period_seconds: int


@dataclass(frozen=True)
class Hsm:
    library: str = DEFAULT_HSM_LIBRARY
    slot_list_index: int = 0


@dataclass(frozen=True)
class Consortium:
    name: str
    chain_id: int
    block_period_seconds: int
    empty_block_period_seconds: int
    epoch_length: int
    request_timeout_seconds: int
    rpc_max_logs_range: int
    members: tuple[Member, ...]
    indexer_max_range: int | None = None
    #: Accounts allow-listed besides the members' own (the deployer, the consortium admin).
    accounts: tuple[str, ...] = ()
    #: Accounts taken from the app's organisations (`--accounts-from-app`).
    app_accounts: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] = ()
    hsm: Hsm | None = None

    @property
    def validators(self) -> list[Member]:
        return [m for m in self.members if m.is_validator]

    @property
    def rpc_nodes(self) -> list[Member]:
        return [m for m in self.members if not m.is_validator]

    def member(self, slug: str) -> Member:
        for m in self.members:
            if m.slug == slug:
                return m
        known = ", ".join(m.slug for m in self.members)
        raise ConsortiumError(f"no member {slug!r} in this network (members: {known})")

    def allowed_accounts(self) -> list[str]:
        found = list(self.accounts) + list(self.app_accounts)
        for m in self.members:
            found += m.accounts
        return sorted(set(found))

    def app_indexer_range(self) -> int:
        if self.indexer_max_range is not None:
            return self.indexer_max_range
        return self.rpc_max_logs_range or 5000

    def with_members(self, members: list[Member]) -> Consortium:
        return checked(replace(self, members=tuple(members)))


NETWORK_KEYS = {
    "name", "chain_id", "block_period_seconds", "empty_block_period_seconds", "epoch_length",
    "request_timeout_seconds", "rpc_max_logs_range", "indexer_max_range", "accounts",
    "app_accounts", "transitions", "hsm", "members",
}  # fmt: skip
MEMBER_KEYS = {
    "slug", "name", "host", "p2p_port", "rpc_port", "metrics_port", "role", "accounts",
    "address", "public_key", "hsm_key_alias", "rpc_allowlist", "previous_public_key",
}  # fmt: skip


def _int(doc: dict[str, Any], key: str, where: str, *, minimum: int, default: Any = ...) -> Any:
    if key not in doc:
        if default is ...:
            raise ConsortiumError(f"{where}: `{key}` is missing")
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConsortiumError(f"{where}: `{key}` must be an integer >= {minimum}, got {value!r}")
    return value


def _str(doc: dict[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key not in doc:
        if default is ...:
            raise ConsortiumError(f"{where}: `{key}` is missing")
        return default
    value = doc[key]
    if not isinstance(value, str) or not value.strip():
        raise ConsortiumError(f"{where}: `{key}` must be a non-empty string, got {value!r}")
    return value.strip()


def _accounts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConsortiumError(f"{where}: `accounts` must be a list of addresses")
    try:
        return tuple(dict.fromkeys(checked_address(a) for a in value))
    except InvalidKey as exc:
        raise ConsortiumError(f"{where}: {exc}") from None


def _unknown(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ConsortiumError(f"{where}: unknown key(s) {', '.join(unknown)} (a typo?)")


def _member(doc: Any, index: int) -> Member:
    if not isinstance(doc, dict):
        raise ConsortiumError(f"members[{index}] must be a table")
    where = f"member {doc.get('slug', f'#{index + 1}')!r}"
    _unknown(doc, MEMBER_KEYS, where)
    slug = _str(doc, "slug", where)
    if not SLUG.match(slug):
        raise ConsortiumError(f"{where}: slug must be lower-case letters, digits and dashes")
    host = _str(doc, "host", where)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConsortiumError(
            f"{where}: host {host!r} must be an IP address (Besu's node allow-list matches "
            "enode hosts as IP addresses)"
        ) from None
    role = _str(doc, "role", where)
    if role not in ROLES:
        raise ConsortiumError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        public_key = checked_public_key(doc["public_key"]) if "public_key" in doc else None
        previous = doc.get("previous_public_key")
        previous = checked_public_key(previous) if previous else None
        if "address" in doc:
            address = checked_address(doc["address"])
            if public_key is None:
                raise ConsortiumError(f"{where}: `address` goes with `public_key` (an HSM key)")
            if address_of(public_key) != address:
                raise ConsortiumError(f"{where}: `address` {address} is not the public key's")
    except InvalidKey as exc:
        raise ConsortiumError(f"{where}: {exc}") from None
    allowlist = doc.get("rpc_allowlist", [])
    if not isinstance(allowlist, list) or not all(isinstance(h, str) for h in allowlist):
        raise ConsortiumError(f"{where}: `rpc_allowlist` must be a list of host names")
    return Member(
        slug=slug,
        name=_str(doc, "name", where),
        host=host,
        p2p_port=_int(doc, "p2p_port", where, minimum=1),
        rpc_port=_int(doc, "rpc_port", where, minimum=1),
        metrics_port=_int(doc, "metrics_port", where, minimum=1),
        role=role,
        accounts=_accounts(doc.get("accounts", []), where),
        public_key=public_key,
        hsm_key_alias=_str(doc, "hsm_key_alias", where, default=None),
        rpc_allowlist=tuple(allowlist),
        previous_public_key=previous,
    )


def _transitions(value: Any) -> tuple[Transition, ...]:
    if not isinstance(value, list):
        raise ConsortiumError("`transitions` must be an array of tables")
    found = []
    for index, doc in enumerate(value):
        where = f"transitions[{index}]"
        if not isinstance(doc, dict):
            raise ConsortiumError(f"{where} must be a table")
        _unknown(doc, {"block", "block_period_seconds"}, where + " (keyed by block number only)")
        found.append(
            Transition(
                _int(doc, "block", where, minimum=1),
                _int(doc, "block_period_seconds", where, minimum=1),
            )
        )
    blocks = [t.block for t in found]
    if blocks != sorted(set(blocks)):
        raise ConsortiumError("transitions must have distinct blocks, in increasing order")
    return tuple(found)


def parse(doc: dict[str, Any]) -> Consortium:
    _unknown(doc, NETWORK_KEYS, "consortium")
    where = "consortium"
    hsm_doc = doc.get("hsm")
    if hsm_doc is not None and not isinstance(hsm_doc, dict):
        raise ConsortiumError("`hsm` must be a table")
    if hsm_doc is not None:
        _unknown(hsm_doc, {"library", "slot_list_index"}, "hsm")
    members = doc.get("members", [])
    if not isinstance(members, list):
        raise ConsortiumError("`members` must be an array of tables ([[members]])")
    consortium = Consortium(
        name=_str(doc, "name", where),
        chain_id=_int(doc, "chain_id", where, minimum=1),
        block_period_seconds=_int(doc, "block_period_seconds", where, minimum=1),
        empty_block_period_seconds=_int(doc, "empty_block_period_seconds", where, minimum=0),
        epoch_length=_int(doc, "epoch_length", where, minimum=1),
        request_timeout_seconds=_int(doc, "request_timeout_seconds", where, minimum=1),
        rpc_max_logs_range=_int(doc, "rpc_max_logs_range", where, minimum=0),
        indexer_max_range=_int(doc, "indexer_max_range", where, minimum=1, default=None),
        accounts=_accounts(doc.get("accounts", []), where),
        app_accounts=_accounts(doc.get("app_accounts", []), where + " app_accounts"),
        transitions=_transitions(doc.get("transitions", [])),
        hsm=None
        if hsm_doc is None
        else Hsm(
            library=_str(hsm_doc, "library", "hsm", default=DEFAULT_HSM_LIBRARY),
            slot_list_index=_int(hsm_doc, "slot_list_index", "hsm", minimum=0, default=0),
        ),
        members=tuple(_member(m, i) for i, m in enumerate(members)),
    )
    return checked(consortium)


def checked(c: Consortium) -> Consortium:
    """Refuses a network Besu or the app could not run: checks across members and settings."""
    slugs = [m.slug for m in c.members]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise ConsortiumError(f"duplicate member slug(s): {', '.join(duplicates)}")
    used: dict[tuple[str, int], str] = {}
    for m in c.members:
        for kind, port in (("p2p", m.p2p_port), ("rpc", m.rpc_port), ("metrics", m.metrics_port)):
            if port > 65535:
                raise ConsortiumError(f"member {m.slug!r}: {kind}_port {port} is not a port")
            owner = used.setdefault((m.host, port), f"{m.slug} {kind}")
            if owner != f"{m.slug} {kind}":
                raise ConsortiumError(
                    f"port clash on {m.host}:{port}: {owner} port and {m.slug} {kind} port"
                )
    if not c.validators:
        raise ConsortiumError("the network needs at least one validator")
    if not c.rpc_nodes:
        raise ConsortiumError(
            "the network needs an rpc node: the app talks to one (validators "
            "serve JSON-RPC on 127.0.0.1 only)"
        )
    if c.empty_block_period_seconds and c.empty_block_period_seconds < c.block_period_seconds:
        raise ConsortiumError(
            "empty_block_period_seconds must be 0 (off) or at least block_period_seconds"
        )
    if c.indexer_max_range is not None and 0 < c.rpc_max_logs_range < c.indexer_max_range:
        raise ConsortiumError(
            f"indexer_max_range {c.indexer_max_range} is above rpc_max_logs_range "
            f"{c.rpc_max_logs_range}: the indexer's eth_getLogs calls would be refused"
        )
    return c


def load(path: Path) -> Consortium:
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConsortiumError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConsortiumError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse(doc)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{path}: {exc}") from None


def to_doc(c: Consortium) -> dict[str, Any]:
    """The consortium as a TOML document (the inverse of `parse`)."""
    doc: dict[str, Any] = {
        "name": c.name,
        "chain_id": c.chain_id,
        "block_period_seconds": c.block_period_seconds,
        "empty_block_period_seconds": c.empty_block_period_seconds,
        "epoch_length": c.epoch_length,
        "request_timeout_seconds": c.request_timeout_seconds,
        "rpc_max_logs_range": c.rpc_max_logs_range,
    }
    if c.indexer_max_range is not None:
        doc["indexer_max_range"] = c.indexer_max_range
    doc["accounts"] = list(c.accounts)
    if c.app_accounts:
        doc["app_accounts"] = list(c.app_accounts)
    if c.hsm is not None:
        doc["hsm"] = {"library": c.hsm.library, "slot_list_index": c.hsm.slot_list_index}
    if c.transitions:
        doc["transitions"] = [
            {"block": t.block, "block_period_seconds": t.block_period_seconds}
            for t in c.transitions
        ]
    doc["members"] = [_member_doc(m) for m in c.members]
    return doc


def _member_doc(m: Member) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "slug": m.slug,
        "name": m.name,
        "role": m.role,
        "host": m.host,
        "p2p_port": m.p2p_port,
        "rpc_port": m.rpc_port,
        "metrics_port": m.metrics_port,
        "accounts": list(m.accounts),
    }
    optional = {
        "public_key": m.public_key and "0x" + m.public_key,
        "hsm_key_alias": m.hsm_key_alias,
        "rpc_allowlist": list(m.rpc_allowlist),
        "previous_public_key": m.previous_public_key and "0x" + m.previous_public_key,
    }
    doc.update({k: v for k, v in optional.items() if v})
    return doc


@dataclass
class MemberSpec:
    """A member as given on the command line of `add-member`."""

    slug: str
    name: str
    host: str
    p2p_port: int
    rpc_port: int
    metrics_port: int
    validator: bool
    accounts: list[str] = field(default_factory=list)
    public_key: str | None = None
    hsm_key_alias: str | None = None

    def member(self) -> Member:
        doc: dict[str, Any] = {
            "slug": self.slug,
            "name": self.name,
            "host": self.host,
            "p2p_port": self.p2p_port,
            "rpc_port": self.rpc_port,
            "metrics_port": self.metrics_port,
            "role": "validator" if self.validator else "rpc",
            "accounts": self.accounts,
        }
        if self.public_key:
            doc["public_key"] = self.public_key
        if self.hsm_key_alias:
            doc["hsm_key_alias"] = self.hsm_key_alias
        return _member(doc, 0)
