"""Portal forms: they parse and show errors; the services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from webapp.certificates.services import CERTIFICATE_TYPES
from webapp.organisations.models import Organisation


class ActionForm(forms.Form):
    """Carries an idempotency key rendered with the form: a double-click or a browser
    resubmit sends the same key and gets the same operation back."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

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
    name = forms.CharField(max_length=200, help_text="e.g. 'Cobalt ore, pit 3'")
    quantity = forms.IntegerField(help_text="whole units of the unit below")
    unit = forms.CharField(max_length=20, initial="kg")
    kind = forms.ChoiceField(choices=KINDS)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    gtin = forms.CharField(required=False, label="GTIN", help_text="8, 12, 13 or 14 digits")
    batch = forms.CharField(required=False, label="Batch / lot number")
    co2e_g_per_unit = forms.IntegerField(required=False, label="Carbon footprint (g CO2e / unit)")
    recycled_permille = forms.IntegerField(required=False, label="Recycled content (‰)")
    document = forms.FileField(required=False, help_text="its SHA-256 goes on chain")


def receivers(exclude: Organisation) -> Any:
    return Organisation.objects.exclude(address="").exclude(pk=exclude.pk).filter(is_operator=False)


class HandoffForm(ActionForm):
    lot_id = forms.IntegerField(label="Lot")
    receiver = forms.ModelChoiceField(queryset=Organisation.objects.none(), to_field_name="slug")
    quantity = forms.IntegerField()

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["receiver"].queryset = receivers(organisation)  # type: ignore[attr-defined]


class RejectForm(ActionForm):
    reason = forms.CharField(max_length=500)


class ItemsField(forms.CharField):
    """Lines of `lot quantity` (e.g. '1001 500')."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "1001 500\n1002 250"})

    def to_python(self, value: Any) -> list[tuple[int, int]]:  # type: ignore[override]
        items = []
        for n, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.replace(",", " ").split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise ValidationError(f"Line {n}: write a lot id and a quantity, e.g. '1001 500'.")
            items.append((int(parts[0]), int(parts[1])))
        return items


class BundleForm(ActionForm):
    name = forms.CharField(max_length=200, help_text="e.g. 'Pallet 17'")
    sscc = forms.CharField(required=False, label="SSCC", help_text="18 digits")
    items = ItemsField(help_text="one lot per line: lot id and quantity")


class TransformForm(ActionForm):
    process = forms.CharField(max_length=500, help_text="e.g. 'Refining run 12'")
    inputs = ItemsField(help_text="one input per line: lot id and quantity consumed")
    output_name = forms.CharField(max_length=200, label="Output name")
    output_quantity = forms.IntegerField(label="Output quantity")
    output_unit = forms.CharField(max_length=20, initial="kg", label="Output unit")
    output_kind = forms.ChoiceField(choices=KINDS, initial="component", label="Output kind")
    co2e_g_per_unit = forms.IntegerField(required=False, label="Carbon footprint (g CO2e / unit)")
    recycled_permille = forms.IntegerField(required=False, label="Recycled content (‰)")


class CertificateForm(ActionForm):
    lot_id = forms.IntegerField(label="Lot")
    certificate_type = forms.ChoiceField(choices=list(CERTIFICATE_TYPES.items()))
    document = forms.FileField(help_text="the certificate itself; its SHA-256 goes on chain")
    valid_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    co2e_g_per_unit = forms.IntegerField(required=False, label="Certified g CO2e / unit")
    recycled_permille = forms.IntegerField(required=False, label="Certified recycled content (‰)")


class RevokeForm(ActionForm):
    reason = forms.CharField(max_length=500)
