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
from webapp.limits import (
    EARLIEST_CERTIFICATE_DATE,
    LATEST_CERTIFICATE_DATE,
    MAX_BUNDLE_ITEMS,
    MAX_CO2E_G_PER_UNIT,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PROCESS_LENGTH,
    MAX_QUANTITY,
    MAX_REASON_LENGTH,
    MAX_RECYCLED_PERMILLE,
    MAX_TRANSFORMATION_INPUTS,
    MAX_UNIT_LENGTH,
    id_bounds,
    quantity_bounds,
)
from webapp.lots.search import TABS, LotQuery
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import participant_list

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


def receivers(exclude: Organisation) -> Any:
    return participant_list(exclude=exclude)


class HandoffForm(ActionForm):
    lot_id = id_field(label="Lot")
    receiver = forms.ModelChoiceField(queryset=Organisation.objects.none(), to_field_name="slug")
    quantity = quantity_field()

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["receiver"].queryset = receivers(organisation)  # type: ignore[attr-defined]


class RejectForm(ActionForm):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH)


class ItemsField(forms.CharField):
    """Lines of `lot quantity` (e.g. '1001 500'), at most `max_items` of them."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "1001 500\n1002 250"})

    def __init__(self, *, max_items: int, **kwargs: Any) -> None:
        # A line is at most two 78-digit numbers and a separator.
        super().__init__(max_length=max_items * 160, **kwargs)
        self.max_items = max_items

    def to_python(self, value: Any) -> list[tuple[int, int]]:  # type: ignore[override]
        text = str(value or "")
        if self.max_length is not None and len(text) > self.max_length:
            raise ValidationError(f"At most {self.max_items} lines.")
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.replace(",", " ").split()
            # isdigit() also accepts '²' and other digits int() refuses: ASCII only.
            if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
                raise ValidationError(f"Line {n}: write a lot id and a quantity, e.g. '1001 500'.")
            lot, quantity = int(parts[0]), int(parts[1])
            if not 1 <= lot <= MAX_ID or not 1 <= quantity <= MAX_QUANTITY:
                raise ValidationError(
                    f"Line {n}: lot ids are whole numbers from 1 to 2^256 - 1, quantities"
                    " from 1 to 2^240 - 1."
                )
            items.append((lot, quantity))
            if len(items) > self.max_items:
                raise ValidationError(f"At most {self.max_items} lines.")
        return items

    def run_validators(self, value: Any) -> None:
        return None  # the length was checked on the text in to_python


class BundleForm(ActionForm):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, help_text="e.g. 'Pallet 17'")
    sscc = forms.CharField(
        required=False,
        max_length=18,
        validators=[ascii_digits],
        label="SSCC",
        help_text="18 digits",
    )
    items = ItemsField(
        max_items=MAX_BUNDLE_ITEMS,
        help_text=f"one lot per line: lot id and quantity (at most {MAX_BUNDLE_ITEMS})",
    )


class TransformForm(ActionForm):
    process = forms.CharField(max_length=MAX_PROCESS_LENGTH, help_text="e.g. 'Refining run 12'")
    inputs = ItemsField(
        max_items=MAX_TRANSFORMATION_INPUTS,
        help_text="one input per line: lot id and quantity consumed"
        f" (at most {MAX_TRANSFORMATION_INPUTS})",
    )
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
