"""The record types an import takes: their columns, how a row's text becomes a service's
arguments, and the service call itself.

A row is read here only as far as text must become numbers, dates and organisations
("quantity must be a whole number, got 'ten'"); every rule about what is acceptable stays
in the services (`lot_register`, `handoff_initiate`, `certificate_issue`), which the dry
run calls as the submission does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError

from contracts.chain.domain import LotKind, Role
from webapp.certificates.services import CERTIFICATE_TYPES, certificate_issue
from webapp.imports.selectors import receiver_by_name_or_slug
from webapp.limits import (
    EARLIEST_CERTIFICATE_DATE,
    LATEST_CERTIFICATE_DATE,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID,
    MAX_LOT_DOCUMENTS,
    MAX_NAME_LENGTH,
    MAX_QUANTITY,
    MAX_UNIT_LENGTH,
)
from webapp.lots.services import Claims, handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation


class RowRefused(Exception):
    """The row's text cannot become the service's arguments: {column: message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    help: str
    example: str = ""


@dataclass(frozen=True)
class Parsed:
    #: Keyword arguments of the service (without organisation, key and user).
    arguments: dict[str, Any]
    #: The row's content in canonical form: what its idempotency key is made of.
    canonical: dict[str, Any]


@dataclass(frozen=True)
class RecordType:
    slug: str
    title: str
    columns: tuple[Column, ...]
    parse: Callable[[dict[str, str]], Parsed]
    perform: Callable[..., Operation]
    #: The service's field names that are a column by another name.
    fields: dict[str, str]
    #: The roles that may record these (the contracts' own checks), and what it is called.
    roles: Role
    doing: str

    def allowed(self, organisation: Organisation) -> bool:
        return bool(organisation.roles & self.roles)

    def refusal(self, organisation: Organisation) -> str:
        """Why `organisation` may not import these, in a sentence."""
        needed = " or ".join(r.name or "" for r in Role if self.roles & r)
        held = ", ".join(organisation.role_names) or "no role"
        return f"{self.doing} needs the {needed} role; {organisation.name} holds {held}."

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def header_key(text: str) -> str:
    """A header as matched: case, spaces, hyphens and slashes do not matter."""
    return re.sub(r"[\s/\-]+", "_", text.strip().lower()).strip("_")


def columns_matched(record: RecordType, headers: list[str]) -> dict[int, str]:
    """Header position → column name; unknown, repeated and missing columns are named."""
    known = set(record.column_names)
    columns: dict[int, str] = {}
    unknown, repeated = [], []
    for index, header in enumerate(headers):
        if not header:
            continue
        key = header_key(header)
        if key not in known:
            unknown.append(header)
        elif key in columns.values():
            repeated.append(header)
        else:
            columns[index] = key
    missing = [c.name for c in record.columns if c.required and c.name not in columns.values()]
    problems = []
    if missing:
        problems.append(f"missing column{'s' * (len(missing) > 1)}: {', '.join(missing)}")
    if unknown:
        problems.append(
            f"unknown column{'s' * (len(unknown) > 1)}: {', '.join(repr(u) for u in unknown)}"
        )
    if repeated:
        problems.append(f"repeated column: {', '.join(repr(r) for r in repeated)}")
    if problems:
        raise ValidationError(
            {
                "file": [
                    f"The header row does not fit a {record.title.lower()} import ("
                    + "; ".join(problems)
                    + f"). The columns are: {', '.join(record.column_names)}."
                ]
            }
        )
    return columns


# -- cells ---------------------------------------------------------------------------------


def _whole(values: dict[str, str], column: str, *, maximum: int, required: bool) -> int | None:
    text = values.get(column, "").replace("_", "").replace(" ", "")
    if not text:
        if required:
            raise RowRefused({column: "is empty; give a whole number"})
        return None
    if text.endswith(".0") and text[:-2].isdigit():  # a spreadsheet's 12.0
        text = text[:-2]
    if not (text.isascii() and text.isdigit()):
        shown = values.get(column, "")
        raise RowRefused({column: f"must be a whole number, got {shown!r}"})
    value = int(text)
    if value > maximum:
        raise RowRefused({column: f"is too large (at most {maximum})"})
    return value


def _text(values: dict[str, str], column: str, *, maximum: int, required: bool = False) -> str:
    text = values.get(column, "")
    if required and not text:
        raise RowRefused({column: "is empty"})
    if len(text) > maximum:
        raise RowRefused({column: f"is longer than {maximum} characters"})
    return text


def _day(values: dict[str, str], column: str) -> date:
    text = values.get(column, "")
    if not text:
        raise RowRefused({column: "is empty; give a date as YYYY-MM-DD"})
    try:
        day = date.fromisoformat(text[:10])
        if len(text) > 10:
            datetime.fromisoformat(text)  # a time part must at least be a time
    except ValueError:
        raise RowRefused({column: f"must be a date as YYYY-MM-DD, got {text!r}"}) from None
    if not EARLIEST_CERTIFICATE_DATE.date() <= day <= LATEST_CERTIFICATE_DATE.date():
        raise RowRefused(
            {
                column: f"must be between {EARLIEST_CERTIFICATE_DATE:%Y-%m-%d} and"
                f" {LATEST_CERTIFICATE_DATE:%Y-%m-%d}, got {text!r}"
            }
        )
    return day


def _collect(*parts: Callable[[], Any]) -> list[Any]:
    """Run each cell reader; report every column that is wrong, not only the first."""
    errors: dict[str, str] = {}
    out = []
    for part in parts:
        try:
            out.append(part())
        except RowRefused as exc:
            errors.update(exc.errors)
            out.append(None)
    if errors:
        raise RowRefused(errors)
    return out


# -- lots ----------------------------------------------------------------------------------

KINDS = {
    "raw_material": LotKind.RAW_MATERIAL,
    "raw material": LotKind.RAW_MATERIAL,
    "material": LotKind.RAW_MATERIAL,
    "component": LotKind.COMPONENT,
    "product": LotKind.PRODUCT,
}


def _kind(values: dict[str, str]) -> LotKind:
    text = values.get("kind", "").strip().lower()
    if not text:
        return LotKind.RAW_MATERIAL
    if text not in KINDS:
        raise RowRefused(
            {"kind": f"must be raw_material, component or product, got {values['kind']!r}"}
        )
    return KINDS[text]


def _documents(values: dict[str, str]) -> list[str]:
    hashes = [h for h in re.split(r"[\s,;]+", values.get("documents", "")) if h]
    if len(hashes) > MAX_LOT_DOCUMENTS:
        raise RowRefused({"documents": f"names more than {MAX_LOT_DOCUMENTS} documents"})
    for value in hashes:
        if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", value):
            raise RowRefused(
                {"documents": f"must hold SHA-256 hashes (64 hex digits), got {value!r}"}
            )
    return ["0x" + h.lower().removeprefix("0x") for h in hashes]


def _lot_parse(values: dict[str, str]) -> Parsed:
    name, quantity, unit, kind, description, gtin, batch, co2e, recycled, documents = _collect(
        lambda: _text(values, "name", maximum=MAX_NAME_LENGTH, required=True),
        lambda: _whole(values, "quantity", maximum=MAX_QUANTITY, required=True),
        lambda: _text(values, "unit", maximum=MAX_UNIT_LENGTH, required=True),
        lambda: _kind(values),
        lambda: _text(values, "description", maximum=MAX_DESCRIPTION_LENGTH),
        lambda: _text(values, "gtin", maximum=MAX_CODE_LENGTH),
        lambda: _text(values, "batch", maximum=MAX_CODE_LENGTH),
        lambda: _whole(values, "co2e_g_per_unit", maximum=2**255, required=False),
        lambda: _whole(values, "recycled_permille", maximum=2**255, required=False),
        lambda: _documents(values),
    )
    claims = Claims(co2e_g_per_unit=co2e, recycled_permille=recycled)
    arguments = {
        "name": name,
        "quantity": quantity,
        "unit": unit,
        "kind": kind,
        "description": description,
        "gtin": gtin,
        "batch": batch,
        "claims": claims,
        "documents": documents,
    }
    canonical = {**arguments, "kind": int(kind), "claims": claims.as_dict()}
    return Parsed(arguments, canonical)


LOTS = RecordType(
    roles=Role.MINER | Role.MANUFACTURER,
    doing="Importing lots",
    slug="lots",
    title="Lots",
    columns=(
        Column("name", True, "what the lot is", "Cobalt hydroxide, drum 14"),
        Column("quantity", True, "a whole number of units", "1200"),
        Column("unit", True, "what one unit is: g, kg, t, piece…", "kg"),
        Column("kind", False, "raw_material (default), component or product", "raw_material"),
        Column("description", False, "free text"),
        Column("gtin", False, "GTIN-8, -12, -13 or -14 with its check digit"),
        Column("batch", False, "the batch/lot number (GS1 AI 10); needs the GTIN"),
        Column("co2e_g_per_unit", False, "declared footprint, whole grams of CO2e per unit"),
        Column("recycled_permille", False, "declared recycled content, per mille (0 to 1000)"),
        Column(
            "documents",
            False,
            "SHA-256 hashes of documents uploaded before, separated by spaces",
        ),
    ),
    parse=_lot_parse,
    perform=lot_register,
    fields={},
)


# -- handoffs ------------------------------------------------------------------------------


def _receiver(values: dict[str, str]) -> Organisation:
    text = values.get("receiver", "")
    if not text:
        raise RowRefused({"receiver": "is empty; give the organisation's name or short name"})
    receiver = receiver_by_name_or_slug(text=text)
    if receiver is None:
        raise RowRefused({"receiver": f"names no organisation on the chain: {text!r}"})
    return receiver


def _handoff_parse(values: dict[str, str]) -> Parsed:
    lot_id, receiver, quantity = _collect(
        lambda: _whole(values, "lot_id", maximum=MAX_ID, required=True),
        lambda: _receiver(values),
        lambda: _whole(values, "quantity", maximum=MAX_QUANTITY, required=True),
    )
    arguments = {"lot_id": lot_id, "receiver": receiver, "quantity": quantity}
    return Parsed(arguments, {**arguments, "receiver": receiver.slug})


HANDOFFS = RecordType(
    roles=Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER,
    doing="Importing handoffs",
    slug="handoffs",
    title="Handoffs",
    columns=(
        Column("lot_id", True, "the lot's id on the chain", "1001"),
        Column("receiver", True, "the receiving organisation's name or short name", "refinery"),
        Column("quantity", True, "a whole number of the lot's units", "400"),
    ),
    parse=_handoff_parse,
    perform=handoff_initiate,
    fields={},
)


# -- certificates --------------------------------------------------------------------------

_TYPE_BY_TEXT = {
    **{header_key(key): key for key in CERTIFICATE_TYPES},
    **{header_key(label): key for key, label in CERTIFICATE_TYPES.items()},
}


def _certificate_type(values: dict[str, str]) -> str:
    text = values.get("certificate_type", "")
    found = _TYPE_BY_TEXT.get(header_key(text))
    if found is None:
        raise RowRefused(
            {"certificate_type": f"must be one of {', '.join(CERTIFICATE_TYPES)}, got {text!r}"}
        )
    return found


def _document_hash(values: dict[str, str]) -> str:
    text = values.get("document_sha256", "")
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", text):
        raise RowRefused(
            {
                "document_sha256": "must be the SHA-256 (64 hex digits) of a document you"
                f" uploaded before, got {text!r}"
            }
        )
    return "0x" + text.lower().removeprefix("0x")


def _certificate_parse(values: dict[str, str]) -> Parsed:
    lot_id, kind, document, valid_from, valid_until, co2e, recycled = _collect(
        lambda: _whole(values, "lot_id", maximum=MAX_ID, required=True),
        lambda: _certificate_type(values),
        lambda: _document_hash(values),
        lambda: _day(values, "valid_from"),
        lambda: _day(values, "valid_until"),
        lambda: _whole(values, "co2e_g_per_unit", maximum=2**255, required=False),
        lambda: _whole(values, "recycled_permille", maximum=2**255, required=False),
    )
    claims = {}
    if co2e is not None:
        claims["CO2E_G_PER_UNIT"] = co2e
    if recycled is not None:
        claims["RECYCLED_PERMILLE"] = recycled
    # As the portal's form: valid from the start of the first day to the end of the last.
    arguments = {
        "lot_id": lot_id,
        "certificate_type": kind,
        "document_hash": document,
        "valid_from": datetime.combine(valid_from, time.min, tzinfo=UTC),
        "valid_until": datetime.combine(valid_until, time.max, tzinfo=UTC),
        "claims": claims,
    }
    canonical = {
        **arguments,
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
    }
    return Parsed(arguments, canonical)


CERTIFICATES = RecordType(
    roles=Role.CERTIFIER,
    doing="Importing certificates",
    slug="certificates",
    title="Certificates",
    columns=(
        Column("lot_id", True, "the certified lot's id on the chain", "1001"),
        Column("certificate_type", True, ", ".join(CERTIFICATE_TYPES), "QUALITY"),
        Column(
            "document_sha256",
            True,
            "SHA-256 of the certificate's document, uploaded before (Documents page or"
            " POST /api/v1/documents)",
        ),
        Column("valid_from", True, "first day, YYYY-MM-DD", "2026-01-01"),
        Column("valid_until", True, "last day, YYYY-MM-DD", "2026-12-31"),
        Column("co2e_g_per_unit", False, "certified footprint, whole grams of CO2e per unit"),
        Column("recycled_permille", False, "certified recycled content, per mille"),
    ),
    parse=_certificate_parse,
    perform=certificate_issue,
    fields={"document": "document_sha256", "claims": "co2e_g_per_unit / recycled_permille"},
)


RECORD_TYPES: dict[str, RecordType] = {r.slug: r for r in (LOTS, HANDOFFS, CERTIFICATES)}


def record_types_for(organisation: Organisation) -> list[RecordType]:
    """The record types `organisation`'s roles let it import."""
    return [r for r in RECORD_TYPES.values() if r.allowed(organisation)]
