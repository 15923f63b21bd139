"""Portal forms: they parse and show errors; the services decide."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from contracts.chain.domain import LotKind
from webapp.certificates.services import CERTIFICATE_TYPES
from webapp.formatting import quantity
from webapp.limits import (
    EARLIEST_CERTIFICATE_DATE,
    LATEST_CERTIFICATE_DATE,
    MAX_BUNDLE_ITEMS,
    MAX_CO2E_G_PER_UNIT,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PROCESS_LENGTH,
    MAX_REASON_LENGTH,
    MAX_RECYCLED_PERMILLE,
    MAX_TRANSFORMATION_INPUTS,
    MAX_UNIT_LENGTH,
    id_bounds,
    quantity_bounds,
)
from webapp.lots.search import TABS, LotQuery
from webapp.lots.selectors import Holding
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import participant_list, time_zones

ascii_digits = RegexValidator(r"^[0-9]*\Z", "Digits 0-9 only.")
printable_ascii = RegexValidator(r"^[\x21-\x7e]*\Z", "Printable ASCII characters only.")


def id_field(**kwargs: Any) -> forms.IntegerField:
    """A lot, bundle or certificate id: uint256 on chain."""
    return forms.IntegerField(**id_bounds(), **kwargs)


def quantity_field(**kwargs: Any) -> forms.IntegerField:
    """A quantity in base units: at least one, at most what the Lots contract holds
    (uint240)."""
    return forms.IntegerField(**quantity_bounds(), **kwargs)


def co2e_field(**kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=0, max_value=MAX_CO2E_G_PER_UNIT, **kwargs)


def recycled_field(**kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, min_value=0, max_value=MAX_RECYCLED_PERMILLE, **kwargs
    )


def certificate_date_field() -> forms.DateField:
    return forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[_certificate_date],
        help_text=f"between {EARLIEST_CERTIFICATE_DATE:%Y-%m-%d} and"
        f" {LATEST_CERTIFICATE_DATE:%Y-%m-%d}",
    )


def _certificate_date(value: date) -> None:
    if not EARLIEST_CERTIFICATE_DATE.date() <= value <= LATEST_CERTIFICATE_DATE.date():
        raise ValidationError(
            f"Give a date between {EARLIEST_CERTIFICATE_DATE:%Y-%m-%d} and"
            f" {LATEST_CERTIFICATE_DATE:%Y-%m-%d}."
        )


class ActionForm(forms.Form):
    """Carries an idempotency key rendered with the form: a double-click or a browser
    resubmit sends the same key and gets the same operation back."""

    idempotency_key = forms.CharField(
        widget=forms.HiddenInput,
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        validators=[printable_ascii],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def refuse(self, error: ValidationError) -> None:
        """Attach a service's refusal to the fields it names."""
        for field, messages in error.message_dict.items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)


KINDS = [("raw_material", "Raw material"), ("component", "Component"), ("product", "Product")]


class LotRegisterForm(ActionForm):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, help_text="e.g. 'Cobalt ore, pit 3'")
    quantity = quantity_field(help_text="whole units of the unit below")
    unit = forms.CharField(max_length=MAX_UNIT_LENGTH, initial="kg")
    kind = forms.ChoiceField(choices=KINDS)
    description = forms.CharField(
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    gtin = forms.CharField(
        required=False,
        max_length=14,
        validators=[ascii_digits],
        label="GTIN",
        help_text="8, 12, 13 or 14 digits",
    )
    batch = forms.CharField(required=False, max_length=MAX_CODE_LENGTH, label="Batch / lot number")
    co2e_g_per_unit = co2e_field(label="Carbon footprint (g CO2e / unit)")
    recycled_permille = recycled_field(label="Recycled content (‰)")
    document = forms.FileField(required=False, help_text="its SHA-256 goes on chain")
    #: A document attached to an earlier, refused submission of this form: kept, so the
    #: person need not attach it again (the SHA-256 of one of the organisation's uploads).
    pending_document = forms.RegexField(
        regex=r"^[0-9a-f]{64}\Z", required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, pending_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_name = pending_name
        if pending_name:
            self.fields[
                "document"
            ].help_text = f"{pending_name} is attached and kept; choose a file only to replace it."

    def keep_document(self, sha256: str, name: str) -> None:
        """Carry an uploaded document into the re-shown form (after a refusal)."""
        data = dict(self.data.items())
        data["pending_document"] = sha256
        self.data = data
        self.pending_name = name
        self.fields[
            "document"
        ].help_text = f"{name} is attached and kept; choose a file only to replace it."
        # Validation already made the field's BoundField, with the old help text.
        getattr(self, "_bound_fields_cache", {}).pop("document", None)


def receivers(exclude: Organisation) -> Any:
    return participant_list(exclude=exclude)


# ------------------------------------------------------------------ lot pickers


class LotSelect(forms.Select):
    """A <select> of lots whose options carry the lot's unit and the quantity held, so the
    quantity field beside it can say both (static/portal/pickers.js)."""

    def __init__(self, *args: Any, holdings: dict[int, Holding] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.holdings = holdings or {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        holding = (
            self.holdings.get(int(str(value)))
            if str(value).isascii() and str(value).isdigit()
            else None
        )
        if holding is not None:
            option["attrs"]["data-unit"] = holding.unit or "units"
            option["attrs"]["data-available"] = quantity(holding.quantity, holding.unit)
        return option


def lot_label(holding: Holding) -> str:
    name = holding.name or "unnamed"
    return f"{holding.lot_id} · {name} · {quantity(holding.quantity, holding.unit)}"


def held_text(holding: Holding | None) -> str:
    if holding is None:
        return "pick a lot to see its unit and how much you hold"
    return f"in {holding.unit or 'units'}; you hold {quantity(holding.quantity, holding.unit)}"


class LotPickerField(forms.TypedChoiceField):
    """One of the lots the organisation holds, by id."""

    def __init__(self, *, holdings: list[Holding], **kwargs: Any) -> None:
        self.holdings = {h.lot_id: h for h in holdings}
        choices = [("", "— choose a lot —")] + [(h.lot_id, lot_label(h)) for h in holdings]
        super().__init__(
            choices=choices,
            coerce=int,
            empty_value=None,
            widget=LotSelect(holdings=self.holdings, attrs={"class": "lot-picker"}),
            error_messages={"invalid_choice": "You hold no lot %(value)s that can be used here."},
            **kwargs,
        )


def _picked(form: forms.Form, lot_field: str) -> Holding | None:
    """The holding currently picked in `lot_field` (bound data, else initial)."""
    field = form.fields[lot_field]
    source = form.data if form.is_bound else form.initial
    raw = source.get(lot_field)
    if raw is None or not (str(raw).isascii() and str(raw).isdigit()):
        return None
    holdings: dict[int, Holding] = field.holdings  # type: ignore[attr-defined]
    return holdings.get(int(str(raw)))


def _quantity_for(field: forms.Field, lot_field_id: str) -> None:
    field.widget.attrs.update({"data-lot-picker": lot_field_id, "class": "picked-quantity"})


def _over_held(holding: Holding, asked: int) -> str:
    return (
        f"You hold {quantity(holding.quantity, holding.unit)} of lot {holding.lot_id};"
        f" {quantity(asked, holding.unit)} is more than that."
    )


class HandoffForm(ActionForm):
    lot_id = forms.Field(label="Lot")  # replaced by a picker of held lots in __init__
    receiver = forms.ModelChoiceField(
        queryset=Organisation.objects.none(),
        to_field_name="slug",
        empty_label="— choose an organisation —",
        error_messages={"invalid_choice": "Choose one of the listed organisations."},
    )
    quantity = quantity_field()

    def __init__(
        self, *args: Any, organisation: Organisation, holdings: list[Holding], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lot_id"] = LotPickerField(holdings=holdings, label="Lot")
        self.fields["receiver"].queryset = receivers(organisation)  # type: ignore[attr-defined]
        _quantity_for(self.fields["quantity"], "id_lot_id")
        self.fields["quantity"].help_text = held_text(_picked(self, "lot_id"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        holding = self.fields["lot_id"].holdings.get(data.get("lot_id"))  # type: ignore[attr-defined]
        asked = data.get("quantity")
        if holding is not None and asked is not None and asked > holding.quantity:
            self.add_error("quantity", _over_held(holding, asked))
        return data


class RejectForm(ActionForm):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH)


class ConfirmForm(ActionForm):
    """A confirmation step: only the idempotency key travels."""


class LineItemsForm(ActionForm):
    """A form with rows of (lot picker, quantity): `lot_1`, `quantity_1`, ... Rows left
    empty are ignored; `rows` says how many are shown, and the "Add a row" button sends the
    form back with one more (no script needed)."""

    items_field = "items"
    items_label = "Lots"
    max_items = MAX_BUNDLE_ITEMS
    #: Fields shown after the rows (the rest come before them).
    tail: tuple[str, ...] = ()
    INITIAL_ROWS = 3

    rows = forms.CharField(widget=forms.HiddenInput, required=False, max_length=4)

    def __init__(self, *args: Any, holdings: list[Holding], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        raw = str((self.data if self.is_bound else self.initial).get("rows", ""))
        wanted = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
        self.row_count = max(self.INITIAL_ROWS, min(wanted, self.max_items))
        self.initial["rows"] = self.row_count
        for n in range(1, self.row_count + 1):
            self.fields[f"lot_{n}"] = LotPickerField(
                holdings=holdings, required=False, label=f"Lot {n}"
            )
            self.fields[f"quantity_{n}"] = quantity_field(required=False, label=f"Quantity {n}")
            _quantity_for(self.fields[f"quantity_{n}"], f"id_lot_{n}")
            self.fields[f"quantity_{n}"].help_text = held_text(_picked(self, f"lot_{n}"))

    @classmethod
    def with_another_row(cls, data: Any, **kwargs: Any) -> LineItemsForm:
        """The form as sent, unvalidated, with one more empty row (the "Add a row" button)."""
        initial = {k: data.get(k) for k in data}
        raw = str(initial.get("rows", ""))
        shown = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
        initial["rows"] = max(shown, cls.INITIAL_ROWS) + 1
        return cls(initial=initial, **kwargs)

    def line_rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"lot_{n}"], self[f"quantity_{n}"]) for n in range(1, self.row_count + 1)]

    def _is_row(self, name: str) -> bool:
        return name.startswith(("lot_", "quantity_"))

    def head_fields(self) -> list[Any]:
        return [
            f for f in self.visible_fields() if not self._is_row(f.name) and f.name not in self.tail
        ]

    def tail_fields(self) -> list[Any]:
        return [f for f in self.visible_fields() if f.name in self.tail]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        items: list[tuple[int, int]] = []
        for n in range(1, self.row_count + 1):
            lot, asked = data.get(f"lot_{n}"), data.get(f"quantity_{n}")
            if lot is None and asked is None:
                continue
            if lot is None:
                if f"lot_{n}" not in self.errors:
                    self.add_error(f"lot_{n}", "Choose the lot this quantity is of.")
                continue
            if asked is None:
                if f"quantity_{n}" not in self.errors:
                    self.add_error(f"quantity_{n}", "Say how much of the lot.")
                continue
            holding = self.fields[f"lot_{n}"].holdings[lot]  # type: ignore[attr-defined]
            if asked > holding.quantity:
                self.add_error(f"quantity_{n}", _over_held(holding, asked))
                continue
            items.append((lot, asked))
        if not items and not self.errors:
            self.add_error(None, "Choose at least one lot and its quantity.")
        data[self.items_field] = items
        return data

    def refuse(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict") and self.items_field in error.error_dict:
            for message in error.message_dict.pop(self.items_field):
                self.add_error(None, message)
            rest = {k: v for k, v in error.message_dict.items() if k != self.items_field}
            if rest:
                super().refuse(ValidationError(rest))
            return
        super().refuse(error)


class BundleForm(LineItemsForm):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, help_text="e.g. 'Pallet 17'")
    sscc = forms.CharField(
        required=False,
        max_length=18,
        validators=[ascii_digits],
        label="SSCC",
        help_text="18 digits",
    )
    items_label = f"Lots to pack (at most {MAX_BUNDLE_ITEMS})"


class TransformForm(LineItemsForm):
    items_field = "inputs"
    items_label = f"Inputs consumed (at most {MAX_TRANSFORMATION_INPUTS})"
    max_items = MAX_TRANSFORMATION_INPUTS
    tail = (
        "output_name",
        "output_quantity",
        "output_unit",
        "output_kind",
        "co2e_g_per_unit",
        "recycled_permille",
    )

    process = forms.CharField(max_length=MAX_PROCESS_LENGTH, help_text="e.g. 'Refining run 12'")
    output_name = forms.CharField(max_length=MAX_NAME_LENGTH, label="Output name")
    output_quantity = quantity_field(label="Output quantity")
    output_unit = forms.CharField(max_length=MAX_UNIT_LENGTH, initial="kg", label="Output unit")
    output_kind = forms.ChoiceField(choices=KINDS, initial="component", label="Output kind")
    co2e_g_per_unit = co2e_field(label="Carbon footprint (g CO2e / unit)")
    recycled_permille = recycled_field(label="Recycled content (‰)")


class CertificateForm(ActionForm):
    lot_id = id_field(label="Lot")
    certificate_type = forms.ChoiceField(choices=list(CERTIFICATE_TYPES.items()))
    document = forms.FileField(help_text="the certificate itself; its SHA-256 goes on chain")
    valid_from = certificate_date_field()
    valid_until = certificate_date_field()
    co2e_g_per_unit = co2e_field(label="Certified g CO2e / unit")
    recycled_permille = recycled_field(label="Certified recycled content (‰)")


class RevokeForm(ActionForm):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH)


# ------------------------------------------------------------------ finding lots

SORT_CHOICES = [
    ("-id", "Newest first"),
    ("id", "Oldest first"),
    ("name", "Name A-Z"),
    ("-name", "Name Z-A"),
    ("-date", "Registered, latest first"),
    ("date", "Registered, earliest first"),
    ("-quantity", "Quantity, largest first"),
    ("quantity", "Quantity, smallest first"),
]
STATES = [("", "any state"), ("quarantined", "quarantined"), ("clear", "not quarantined")]


class LotFilterForm(forms.Form):
    """The lots page's GET parameters. Every field may be left out."""

    tab = forms.ChoiceField(required=False, choices=list(TABS.items()))
    kind = forms.ChoiceField(
        required=False, choices=[("", "any kind"), *KINDS, ("bundle", "Bundle")]
    )
    gtin = forms.CharField(
        required=False, max_length=14, min_length=8, validators=[ascii_digits], label="GTIN"
    )
    holder = forms.ModelChoiceField(
        required=False,
        queryset=Organisation.objects.none(),
        to_field_name="slug",
        empty_label="any holder",
    )
    state = forms.ChoiceField(required=False, choices=STATES)
    registered_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    registered_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holder"].queryset = participant_list()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("registered_from"), data.get("registered_to")
        if start and end and start > end:
            self.add_error("registered_to", "The end date comes before the start date.")
        return data

    def lot_query(self) -> LotQuery:
        """The cleaned filters as the selector takes them (call after is_valid())."""
        data = self.cleaned_data
        state = data.get("state") or ""
        return LotQuery(
            tab=data.get("tab") or "all",
            kind=int(LotKind[data["kind"].upper()]) if data.get("kind") else None,
            gtin=data.get("gtin") or "",
            holder=data.get("holder"),
            quarantined={"quarantined": True, "clear": False}.get(state),
            registered_from=data.get("registered_from"),
            registered_to=data.get("registered_to"),
            sort=data.get("sort") or "-id",
        )


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=MAX_NAME_LENGTH, strip=True, label="Search")


# ------------------------------------------------------------------ organisation settings


class AcceptancePolicyForm(ActionForm):
    certificate_type = forms.ChoiceField(
        required=False,
        choices=[("", "None: accept any lot"), *CERTIFICATE_TYPES.items()],
        label="Certificate required of every lot you accept",
    )


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        choices=[],
        label="Time zone",
        help_text="your members read every time in it",
        error_messages={"invalid_choice": "Choose a time zone from the list (e.g. Europe/Oslo)."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in time_zones()]  # type: ignore[attr-defined]
