"""The subscriptions page's forms: they parse and show errors; the streams services
(`webapp.streams.services`, the API's too) decide."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from webapp.limits import MAX_ID
from webapp.streams.selectors import event_types_known
from webapp.streams.services import (
    MAX_BATCH_SIZE,
    MAX_BATCH_TIMEOUT_S,
    MAX_CONFIRMATIONS,
    Start,
)

#: The most lots one filter names (as the API's).
MAX_LOTS = 100
#: Overlap choices for a rotation: seconds -> words.
OVERLAPS = {
    0: "none: the previous secret stops at once",
    3600: "one hour",
    86400: "one day",
    7 * 86400: "one week",
}


def overlap_words(seconds: int) -> str:
    """'one day', '2 hours', '90 seconds'."""
    for size, unit in ((7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"one {unit}" if count == 1 else f"{count} {unit}s"
    return "one second" if seconds == 1 else f"{seconds} seconds"


def _event_type_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in event_types_known()]


def _datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


def _sequence_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        widget=forms.NumberInput(attrs={"min": 1}),
    )


def _block_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        widget=forms.NumberInput(attrs={"min": 0}),
    )


class _Refusable(forms.Form):
    def target(self, field: str) -> str | None:
        """This form's field that shows a service's refusal of `field` (None: the form)."""
        return field if field in self.fields else None

    def refuse(self, error: ValidationError) -> None:
        """Show a service's refusal next to the field it is about."""
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.add_error(None, message)
            return
        for field, problems in error.message_dict.items():
            for message in problems:
                self.add_error(self.target(field), message)


class SubscriptionForm(_Refusable):
    """The name, destination, filter and delivery options (an edit changes these)."""

    name = forms.CharField(
        max_length=100, help_text="for you: the system that receives it, e.g. 'ERP'"
    )
    url = forms.URLField(
        label="Destination URL",
        max_length=2000,
        assume_scheme="https",
        required=False,
        help_text="where the webhooks go: https:// to a public address",
    )
    event_types = forms.MultipleChoiceField(
        label="Event types",
        required=False,
        choices=_event_type_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="none ticked: every chain fact; alert events only when ticked",
    )
    lot_ids = forms.CharField(
        label="Lots or bundles",
        required=False,
        max_length=10_000,
        help_text="lot ids separated by commas or spaces, with every lot made from or packed"
        " with them; empty: any lot",
    )
    own_only = forms.BooleanField(label="Only facts that name this organisation", required=False)
    batch_size = forms.IntegerField(
        label="Events per request",
        min_value=1,
        max_value=MAX_BATCH_SIZE,
        initial=1,
        help_text=f"1 to {MAX_BATCH_SIZE}; more than 1 sends a batch",
    )
    batch_timeout_s = forms.IntegerField(
        label="Longest wait to fill a batch (seconds)",
        min_value=0,
        max_value=MAX_BATCH_TIMEOUT_S,
        initial=5,
    )
    confirmations = forms.IntegerField(
        label="Blocks to wait",
        min_value=0,
        max_value=MAX_CONFIRMATIONS,
        initial=0,
        help_text="0 sends at once (a reorganisation then sends retractions); N waits until"
        " N blocks lie on top",
    )
    ordered = forms.TypedChoiceField(
        label="Order",
        choices=[
            ("1", "In order: a failing delivery holds back the ones after it"),
            ("0", "Unordered: the others flow; one that keeps failing becomes a dead letter"),
        ],
        coerce=lambda value: value == "1",
        initial="1",
        widget=forms.RadioSelect,
    )

    format = forms.ChoiceField(
        label="What each event carries",
        choices=[
            ("rest", "The fact as the chain states it (as the REST API shows it)"),
            ("epcis", "The fact's EPCIS 2.0 event"),
            ("both", "Both"),
        ],
        initial="rest",
        required=False,
        widget=forms.RadioSelect,
    )
    ed25519 = forms.BooleanField(
        label="Sign with an Ed25519 key too",
        required=False,
        help_text="each request then also carries a v1a signature, which the receiver checks"
        " with a public key (shown on the subscription's page) instead of a shared secret",
    )

    #: A live subscription's settings (no URL, secret, batches or order).
    LIVE = ("name", "event_types", "lot_ids", "own_only", "confirmations", "format")

    #: What only a webhook has.
    WEBHOOK_ONLY = ("url", "batch_size", "batch_timeout_s", "ordered", "ed25519")

    def __init__(self, *args: Any, live: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = live
        if live or self.data.get("transport") == "websocket":
            for name in self.WEBHOOK_ONLY:
                self.fields[name].required = False

    def is_live(self) -> bool:
        return self.live

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if not self.is_live() and not self.cleaned_data.get("url") and "url" not in self.errors:
            self.add_error("url", "Give the URL the webhooks go to.")
        return cleaned

    def clean_format(self) -> str:
        return str(self.cleaned_data.get("format") or "rest")

    def clean_lot_ids(self) -> list[int]:
        text = self.cleaned_data.get("lot_ids") or ""
        parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
        ids: list[int] = []
        for part in parts:
            if not part.isascii() or not part.isdigit():
                raise ValidationError(f"{part!r} is not a lot id (a whole number).")
            value = int(part)
            if not 1 <= value <= MAX_ID:
                raise ValidationError(f"{part} is not a lot id on the chain.")
            ids.append(value)
        ids = sorted(set(ids))
        if len(ids) > MAX_LOTS:
            raise ValidationError(f"Name at most {MAX_LOTS} lots.")
        return ids

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        if self.is_live():
            return {k: v for k, v in self.given(data).items() if k in self.LIVE}
        return self.given(data)

    @staticmethod
    def given(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": data["name"],
            "url": data["url"],
            "event_types": sorted(data["event_types"]),
            "lot_ids": data["lot_ids"],
            "own_only": data["own_only"],
            "batch_size": data["batch_size"],
            "batch_timeout_s": data["batch_timeout_s"],
            "confirmations": data["confirmations"],
            "ordered": data["ordered"],
            "format": data["format"],
            "ed25519": data["ed25519"],
        }

    @classmethod
    def of(cls, subscription: Any) -> SubscriptionForm:
        """The form filled in with a subscription's current settings."""
        return cls(
            live=subscription.transport == "websocket",
            initial={
                "name": subscription.name,
                "url": subscription.url,
                "event_types": subscription.event_types,
                "lot_ids": " ".join(str(i) for i in subscription.lot_ids),
                "own_only": subscription.own_only,
                "batch_size": subscription.batch_size,
                "batch_timeout_s": subscription.batch_timeout_s,
                "confirmations": subscription.confirmations,
                "ordered": "1" if subscription.ordered else "0",
                "format": subscription.format,
                "ed25519": hasattr(subscription, "asymmetric_key"),
            },
        )


def _point_checked(form: forms.Form, kind_field: str, verb: str) -> None:
    """A start or rewind point that needs a value has one."""
    kind = form.cleaned_data.get(kind_field)
    field = {"sequence": "sequence", "block": "block", "time": "time"}.get(kind or "")
    if field and form.cleaned_data.get(field) is None and field not in form.errors:
        form.add_error(field, f"Give the {field} to {verb}.")


def _point(data: dict[str, Any], kind: str) -> Start:
    return Start(
        kind=kind, sequence=data.get("sequence"), block=data.get("block"), at=data.get("time")
    )


class SubscriptionCreateForm(SubscriptionForm):
    transport = forms.ChoiceField(
        label="How it is delivered",
        choices=[
            ("webhook", "Webhooks: signed POSTs to a URL of yours"),
            ("websocket", "Live: your system reads it over WebSocket or Server-Sent Events"),
        ],
        initial="webhook",
        required=False,
        widget=forms.RadioSelect,
    )
    start = forms.ChoiceField(
        label="Start",
        choices=[
            ("newest", "With the next new event"),
            ("oldest", "From the oldest event"),
            ("sequence", "From a sequence number"),
            ("block", "From a block"),
            ("time", "From a time"),
        ],
        initial="newest",
        widget=forms.RadioSelect,
    )
    sequence = _sequence_field("Sequence number")
    block = _block_field("Block")
    time = _datetime_field("Time")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One key per form shown: the form sent twice makes one subscription.
        self.fields["idempotency_key"].initial = uuid.uuid4().hex
        self.fields["time"].help_text = f"in {timezone.get_current_timezone_name()}"

    def clean_transport(self) -> str:
        return str(self.cleaned_data.get("transport") or "webhook")

    def is_live(self) -> bool:
        return self.cleaned_data.get("transport") == "websocket"

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        _point_checked(self, "start", "start from")
        return cleaned

    def start_point(self) -> Start:
        return _point(self.cleaned_data, self.cleaned_data["start"])


class RewindForm(_Refusable):
    to = forms.ChoiceField(
        label="Rewind to",
        choices=[
            ("sequence", "A sequence number"),
            ("block", "A block"),
            ("time", "A time"),
            ("oldest", "The oldest event"),
        ],
        initial="sequence",
        widget=forms.RadioSelect,
    )
    sequence = _sequence_field("Sequence number")
    block = _block_field("Block")
    time = _datetime_field("Time")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time"].help_text = f"in {timezone.get_current_timezone_name()}"

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        _point_checked(self, "to", "rewind to")
        return cleaned

    def point(self) -> Start:
        return _point(self.cleaned_data, self.cleaned_data["to"])

    def target(self, field: str) -> str | None:
        """A refused point is shown next to the value given for it."""
        kind = self.cleaned_data.get("to", "")
        if field == "to" and kind in ("sequence", "block", "time"):
            return str(kind)
        return super().target(field)


class RotateForm(forms.Form):
    overlap_s = forms.TypedChoiceField(
        label="The previous secret keeps signing for",
        choices=list(OVERLAPS.items()),
        coerce=int,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = int(settings.STREAMS_SECRET_OVERLAP_S)
        field = self.fields["overlap_s"]
        assert isinstance(field, forms.TypedChoiceField)
        if default not in OVERLAPS:
            field.choices = [*OVERLAPS.items(), (default, overlap_words(default))]
        field.initial = default
