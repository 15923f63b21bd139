"""The request and the resource of an EPCIS query subscription as the REST binding spells
them: the `POST /queries/{name}/subscriptions` body checked (`subscription_request`), and
the subscription as `GET` shows it (`epcis_subscription_json`, never the signatureToken)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp.streams.epcis_schedule import ScheduleError, schedule_parse
from webapp.streams.models import EpcisSubscription
from webapp.streams.ssrf import DestinationRefused, destination_check

MAX_TOKEN_LENGTH = 1000
FIELDS = {"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"}


class SubscriptionRefused(ValueError):
    """A subscription request this repository refuses: `kind` is the binding's exception
    type (`ValidationException`, `SubscriptionControlsException`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _time(text: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SubscriptionRefused(
            "ValidationException", "initialRecordTime: give a time with its offset."
        )
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class SubscriptionRequest:
    dest: str
    signature_token: str
    stream: bool
    schedule: dict[str, Any] | None
    report_if_empty: bool
    initial_record_time: datetime | None


def _dest(dest: Any) -> str:
    if not isinstance(dest, str) or not dest:
        raise SubscriptionRefused("ValidationException", "dest: give the URL to send to.")
    try:
        destination_check(dest)
    except DestinationRefused as exc:
        raise SubscriptionRefused("ValidationException", f"dest: {exc}") from exc
    return dest


def subscription_request(body: Any) -> SubscriptionRequest:
    """The binding's request body checked, or `SubscriptionRefused` saying what is wrong."""
    if not isinstance(body, dict):
        raise SubscriptionRefused("ValidationException", "Give the subscription as an object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise SubscriptionRefused("ValidationException", f"{unknown[0]}: no such field.")
    dest, token = _dest(body.get("dest")), body.get("signatureToken", "")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise SubscriptionRefused(
            "ValidationException", f"signatureToken: give a string of at most {MAX_TOKEN_LENGTH}."
        )
    stream, schedule = body.get("stream"), body.get("schedule")
    controls = "SubscriptionControlsException"
    if stream is not None and stream is not True:
        raise SubscriptionRefused(controls, "stream: only true (or leave it out for a schedule).")
    if (stream is None) == (schedule is None):
        raise SubscriptionRefused(controls, "Give either stream: true or a schedule, not both.")
    if schedule is not None:
        try:
            schedule_parse(schedule)
        except ScheduleError as exc:
            raise SubscriptionRefused(controls, str(exc)) from exc
    report = body.get("reportIfEmpty", False)
    if not isinstance(report, bool) or (report and schedule is None):
        raise SubscriptionRefused(
            controls, "reportIfEmpty: true or false, and only for a scheduled subscription."
        )
    initial = body.get("initialRecordTime")
    return SubscriptionRequest(
        dest=dest,
        signature_token=token,
        stream=stream is True,
        schedule=schedule,
        report_if_empty=report,
        initial_record_time=_time(initial) if initial is not None else None,
    )


def epcis_subscription_json(epcis: EpcisSubscription) -> dict[str, Any]:
    """The binding's subscription resource (the signatureToken is never shown)."""
    subscription = epcis.subscription
    out: dict[str, Any] = {
        "subscriptionID": str(epcis.pk),
        "queryName": epcis.query.name,
        "dest": subscription.url,
        "createdAt": _iso(subscription.created_at),
    }
    if epcis.last_notified_at is not None:
        out["lastNotifiedAt"] = _iso(epcis.last_notified_at)
    if epcis.initial_record_time is not None:
        out["initialRecordTime"] = _iso(epcis.initial_record_time)
    if epcis.stream:
        out["stream"] = True
    else:
        out["schedule"] = epcis.schedule
        out["reportIfEmpty"] = epcis.report_if_empty
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
