"""GS1 identities: keys, check digits, EPC URNs and GS1 Digital Link URIs.

A pure module (no models, no settings): the organisations give it their registered GS1
Company Prefixes, the resolver and the passport give it a resolver root.

- GTIN-8/12/13/14, GLN (13 digits) and SSCC (18 digits) carry a GS1 mod-10 check digit;
  a GTIN is normalised to 14 digits (left-padded with zeros).
- Batch/lot (AI 10), serial (AI 21) and a GLN extension (AI 254) hold up to 20 characters
  of the GS1 AI encodable character set 82.
- EPC URNs (EPC Tag Data Standard) split a key at the end of its GS1 Company Prefix, so
  converting to a URN needs the prefix length. There is no offline table of prefixes:
  the longest registered prefix the key starts with decides, or the caller names the
  length; a key under no registered prefix is refused.
- URN ↔ Digital Link both ways. In a URN the characters `"` `%` `&` `/` `<` `>` `?` of a
  serial, lot or extension are escaped as %HH (TDS); in a Digital Link every character
  outside the URI unreserved set is percent-encoded, and any percent-encoding is read back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

#: The GS1 resolver of last resort; a deployment names its own (PROVENANT_RESOLVER_URL).
GS1_RESOLVER = "https://id.gs1.org"

#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)

#: Characters of set 82 that an EPC URN escapes (EPC Tag Data Standard, URN escaping).
_URN_ESCAPED = frozenset('"%&/<>?')

GTIN_LENGTHS = (8, 12, 13, 14)
PREFIX_LENGTHS = range(6, 13)  # a GS1 Company Prefix has 6 to 12 digits


class Gs1Error(ValueError):
    """A GS1 key, URN or Digital Link that is not valid; the message says why, plainly."""


# ---------------------------------------------------------------- check digits and keys


def check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of `body` (every digit but the last of a key)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _digits(value: str, name: str, lengths: Iterable[int]) -> str:
    lengths = tuple(lengths)
    if not (value.isascii() and value.isdigit()):  # '²'.isdigit() holds too
        raise Gs1Error(f"{name} {value!r} must hold digits only.")
    if len(value) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise Gs1Error(f"{name} {value} has {len(value)} digits; a {name} has {allowed}.")
    expected = check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise Gs1Error(f"{name} {value} has check digit {value[-1]}; it should be {expected}.")
    return value


def gtin14(gtin: str) -> str:
    """A GTIN-8/12/13/14, checked, as 14 digits."""
    return _digits(gtin.strip(), "GTIN", GTIN_LENGTHS).zfill(14)


def gln_checked(gln: str) -> str:
    return _digits(gln.strip(), "GLN", (13,))


def sscc_checked(sscc: str) -> str:
    return _digits(sscc.strip(), "SSCC", (18,))


def company_prefix_checked(prefix: str) -> str:
    prefix = prefix.strip()
    if not (prefix.isascii() and prefix.isdigit() and len(prefix) in PREFIX_LENGTHS):
        raise Gs1Error(f"A GS1 Company Prefix has 6 to 12 digits; {prefix!r} does not.")
    return prefix


def attribute_checked(value: str, name: str) -> str:
    """A batch/lot (AI 10), serial (AI 21) or GLN extension (AI 254): 1 to 20 characters
    of set 82."""
    if not value:
        raise Gs1Error(f"The {name} is empty.")
    if len(value) > 20:
        raise Gs1Error(f"The {name} {value!r} has {len(value)} characters; at most 20.")
    bad = sorted(set(value) - CSET82)
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise Gs1Error(
            f"The {name} {value!r} holds {shown}, outside the GS1 character set 82 "
            "(letters, digits and !\"%&'()*+,-./:;<=>?_ only; no spaces)."
        )
    return value


def with_check_digit(body: str) -> str:
    """`body` followed by its check digit (to make demo keys)."""
    return body + str(check_digit(body))


# ---------------------------------------------------------------- keys


_PRIMARY_NAMES = {"01": "a GTIN", "00": "an SSCC", "414": "a GLN", "417": "a party GLN"}


@dataclass(frozen=True)
class Gs1Key:
    """One identified thing: a primary key (AI 01 GTIN, 00 SSCC, 414 GLN of a location,
    417 GLN of a party) with its key qualifiers (10 batch/lot, 21 serial, 254 extension).

    Build with `lgtin`, `sgtin`, `sscc`, `sgln`, `pgln`, or parse a URN or Digital Link."""

    ai: str
    key: str
    lot: str = ""
    serial: str = ""
    extension: str = ""

    @property
    def kind(self) -> str:
        """The EPC scheme: sgtin, lgtin, gtin (a class without lot), sscc, sgln or pgln."""
        if self.ai == "01":
            return "sgtin" if self.serial else "lgtin" if self.lot else "gtin"
        return {"00": "sscc", "414": "sgln", "417": "pgln"}[self.ai]

    @property
    def element_string(self) -> str:
        """The human-readable element string: `(01)09506000134352(10)ABC1`."""
        parts = [("01" if self.ai == "01" else self.ai, self.key)]
        parts += [(ai, v) for ai, v in self.qualifiers]
        return "".join(f"({ai}){v}" for ai, v in parts)

    @property
    def qualifiers(self) -> list[tuple[str, str]]:
        return [
            (ai, v)
            for ai, v in (("10", self.lot), ("21", self.serial), ("254", self.extension))
            if v
        ]

    def digital_link(
        self, root: str = GS1_RESOLVER, attributes: Mapping[str, str] | None = None
    ) -> str:
        """The Digital Link URI under `root` (no trailing slash needed): the primary key,
        its qualifiers in path order, then `attributes` (e.g. {"17": "261231"}) as query."""
        path = f"/{self.ai}/{self.key}" + "".join(
            f"/{ai}/{_dl_quote(v)}" for ai, v in self.qualifiers
        )
        uri = root.rstrip("/") + path
        if attributes:
            uri += "?" + "&".join(f"{_dl_quote(k)}={_dl_quote(v)}" for k, v in attributes.items())
        return uri

    def epc_urn(self, *, prefixes: Iterable[str] = (), prefix_length: int | None = None) -> str:
        """The EPC URN: `urn:epc:id:sgtin:…`, `urn:epc:class:lgtin:…`, `urn:epc:id:sscc:…`,
        `urn:epc:id:sgln:…` or `urn:epc:id:pgln:…`. The company prefix length comes from
        `prefix_length` or from the longest of `prefixes` the key starts with."""
        if self.kind == "gtin":
            raise Gs1Error(
                f"GTIN {self.key} without a batch/lot or serial has no EPC URN of its own; "
                "give a batch/lot (LGTIN) or a serial (SGTIN)."
            )
        # The company prefix follows the indicator / extension digit in GTINs and SSCCs.
        start = 1 if self.ai in ("01", "00") else 0
        body = self.key[start:]
        n = prefix_length if prefix_length is not None else _prefix_length(body, prefixes, self)
        if n not in PREFIX_LENGTHS:
            raise Gs1Error(f"A GS1 Company Prefix has 6 to 12 digits, not {n}.")
        cp = body[:n]
        if self.ai == "01":
            reference = self.key[0] + body[n:-1]
            if self.serial:
                return f"urn:epc:id:sgtin:{cp}.{reference}.{_urn_quote(self.serial)}"
            return f"urn:epc:class:lgtin:{cp}.{reference}.{_urn_quote(self.lot)}"
        if self.ai == "00":
            return f"urn:epc:id:sscc:{cp}.{self.key[0]}{body[n:-1]}"
        if self.ai == "414":
            ext = _urn_quote(self.extension) if self.extension else "0"
            return f"urn:epc:id:sgln:{cp}.{body[n:-1]}.{ext}"
        return f"urn:epc:id:pgln:{cp}.{body[n:-1]}"


def _prefix_length(body: str, prefixes: Iterable[str], key: Gs1Key) -> int:
    matching = [p for p in prefixes if p and body.startswith(p)]
    if not matching:
        raise Gs1Error(
            f"{key.element_string} starts with no registered GS1 Company Prefix; register "
            "the maker's company prefix (or give the prefix length) to write its EPC URN."
        )
    return len(max(matching, key=len))


def lgtin(gtin: str, lot: str) -> Gs1Key:
    return Gs1Key("01", gtin14(gtin), lot=attribute_checked(lot, "batch/lot"))


def sgtin(gtin: str, serial: str) -> Gs1Key:
    return Gs1Key("01", gtin14(gtin), serial=attribute_checked(serial, "serial"))


def sscc(value: str) -> Gs1Key:
    return Gs1Key("00", sscc_checked(value))


def sgln(gln: str, extension: str = "") -> Gs1Key:
    ext = attribute_checked(extension, "GLN extension") if extension else ""
    return Gs1Key("414", gln_checked(gln), extension=ext)


def pgln(gln: str) -> Gs1Key:
    return Gs1Key("417", gln_checked(gln))


def gtin_key(gtin: str) -> Gs1Key:
    return Gs1Key("01", gtin14(gtin))


# ---------------------------------------------------------------- element strings


_ELEMENT = re.compile(r"\((\d{2,4})\)([^()]*)")


def parse_element_string(text: str) -> Gs1Key:
    """`(01)09506000134352(10)ABC1` (how lots store their GS1 key) as a key. Batch values
    holding parentheses are not expected here: lots store set-82 values without them."""
    pairs = _ELEMENT.findall(text)
    if not pairs or "".join(f"({a}){v}" for a, v in pairs) != text:
        raise Gs1Error(f"{text!r} is not a GS1 element string like (01)…(10)….")
    return _key_from_pairs(pairs)


# ---------------------------------------------------------------- EPC URNs


def _urn_quote(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _URN_ESCAPED else c for c in value)


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def _urn_unquote(value: str, name: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        raise Gs1Error(f"The {name} {value!r} holds a % that starts no %HH escape.")
    return attribute_checked(_PERCENT.sub(lambda m: chr(int(m.group(1), 16)), value), name)


_URN = re.compile(r"urn:epc:(id|class):(sgtin|lgtin|sscc|sgln|pgln):(.+)", re.IGNORECASE)


def parse_epc_urn(urn: str) -> Gs1Key:
    """An EPC pure identity URN (sgtin, sscc, sgln, pgln) or an LGTIN class URN as a key;
    the check digit is recomputed."""
    m = _URN.fullmatch(urn.strip())
    if not m:
        raise Gs1Error(
            f"{urn!r} is not an EPC URN this resolver knows (urn:epc:id:sgtin, "
            "urn:epc:class:lgtin, urn:epc:id:sscc, urn:epc:id:sgln, urn:epc:id:pgln)."
        )
    space, scheme, rest = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if (scheme == "lgtin") != (space == "class"):
        raise Gs1Error(f"{urn!r}: an LGTIN is urn:epc:class:lgtin, the others urn:epc:id:….")
    parts = rest.split(".")
    expected = {"sgtin": 3, "lgtin": 3, "sscc": 2, "sgln": 3, "pgln": 2}[scheme]
    if len(parts) != expected or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        raise Gs1Error(f"{urn!r} does not have the fields of an {scheme.upper()} URN.")
    return _key_from_urn_fields(urn, scheme, company_prefix_checked(parts[0]), parts[1], parts[2:])


def _key_from_urn_fields(urn: str, scheme: str, cp: str, ref: str, last: list[str]) -> Gs1Key:
    digits = {"sgtin": 13, "lgtin": 13, "sscc": 17, "sgln": 12, "pgln": 12}[scheme]
    if len(cp) + len(ref) != digits:
        raise Gs1Error(f"{urn!r}: the company prefix and the reference make {digits} digits.")
    if scheme == "sgtin":
        return Gs1Key(
            "01", with_check_digit(ref[0] + cp + ref[1:]), serial=_urn_unquote(last[0], "serial")
        )
    if scheme == "lgtin":
        return Gs1Key(
            "01", with_check_digit(ref[0] + cp + ref[1:]), lot=_urn_unquote(last[0], "batch/lot")
        )
    if scheme == "sscc":
        return Gs1Key("00", with_check_digit(ref[0] + cp + ref[1:]))
    if scheme == "pgln":
        return Gs1Key("417", with_check_digit(cp + ref))
    ext = last[0]
    extension = "" if ext == "0" else _urn_unquote(ext, "GLN extension")
    return Gs1Key("414", with_check_digit(cp + ref), extension=extension)


# ---------------------------------------------------------------- Digital Link


def _dl_quote(value: str) -> str:
    return quote(value, safe="")


#: Key qualifiers each primary key takes in a Digital Link path, in their order.
_QUALIFIERS = {"01": ("10", "21"), "00": (), "414": ("254",), "417": ()}


@dataclass(frozen=True)
class DigitalLink:
    """A parsed Digital Link: the key and the query's other pairs (data attributes such
    as 17 expiry date, and non-GS1 pairs such as linkType), in their order."""

    key: Gs1Key
    query: tuple[tuple[str, str], ...] = ()


def parse_digital_link_path(path: str, query: str = "", *, decoded: bool = False) -> DigitalLink:
    """The GS1 part of a Digital Link path (anything before the primary key is the
    resolver's own prefix) and its query string.

    `decoded`: the path was percent-decoded already (a WSGI PATH_INFO), so a `/` inside a
    lot or serial arrives as a separator: the segments up to the next qualifier that may
    follow are read back as one value, and nothing is decoded twice."""
    segments = path.strip("/").split("/") if path.strip("/") else []
    if not decoded:
        segments = [unquote(s) for s in segments]
    start = next(
        (i for i, s in enumerate(segments) if s in _QUALIFIERS and i + 1 < len(segments)), None
    )
    if start is None:
        raise Gs1Error(
            f"{path!r} holds no GS1 primary key: a Digital Link path is /01/{{GTIN}}, "
            "/00/{SSCC}, /414/{GLN} or /417/{GLN}, with /10/{lot}, /21/{serial} or "
            "/254/{extension} after it."
        )
    primary = segments[start]
    allowed = _QUALIFIERS[primary]
    pairs = [(primary, segments[start + 1])]
    rest = segments[start + 2 :]
    while rest:
        ai = rest[0]
        if ai not in allowed or len(rest) < 2:
            order = _QUALIFIERS[primary]
            raise Gs1Error(
                f"After /{primary}/ a Digital Link path takes "
                + (
                    " then ".join(f"/{a}/" for a in order) + " (in that order)"
                    if order
                    else "nothing"
                )
                + f"; /{'/'.join(rest)} does not fit."
            )
        allowed = allowed[allowed.index(ai) + 1 :]
        value, rest = rest[1], rest[2:]
        while decoded and rest and not (rest[0] in allowed and len(rest) > 1):
            value, rest = f"{value}/{rest[0]}", rest[1:]
        pairs.append((ai, value))
    key = _key_from_pairs(pairs)
    return DigitalLink(key, tuple(parse_qsl(query, keep_blank_values=True)))


def parse_digital_link(uri: str) -> DigitalLink:
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Gs1Error(f"{uri!r} is not an http(s) URI.")
    return parse_digital_link_path(parts.path, parts.query)


def _key_from_pairs(pairs: Iterable[tuple[str, str]]) -> Gs1Key:
    pairs = list(pairs)
    primary, value = pairs[0]
    rest = dict(pairs[1:])
    if len(rest) != len(pairs) - 1:
        raise Gs1Error("A key qualifier appears twice.")
    if primary == "01":
        key = Gs1Key("01", gtin14(value))
        lot, serial = rest.pop("10", ""), rest.pop("21", "")
        key = Gs1Key(
            "01",
            key.key,
            lot=attribute_checked(lot, "batch/lot") if lot else "",
            serial=attribute_checked(serial, "serial") if serial else "",
        )
    elif primary == "00":
        key = sscc(value)
    elif primary == "414":
        key = sgln(value, rest.pop("254", ""))
    elif primary == "417":
        key = pgln(value)
    else:
        raise Gs1Error(f"AI ({primary}) is no primary key this resolver knows.")
    if rest:
        raise Gs1Error(
            f"{', '.join(f'({a})' for a in rest)} does not qualify "
            f"{_PRIMARY_NAMES[primary]} ({primary})."
        )
    return key


def urn_to_digital_link(urn: str, root: str = GS1_RESOLVER) -> str:
    return parse_epc_urn(urn).digital_link(root)


def digital_link_to_urn(
    uri: str, *, prefixes: Iterable[str] = (), prefix_length: int | None = None
) -> str:
    return parse_digital_link(uri).key.epc_urn(prefixes=prefixes, prefix_length=prefix_length)
