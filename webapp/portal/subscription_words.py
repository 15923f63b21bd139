"""A subscription's state, position and deliveries in plain words, for its page and the
status it polls (the same rows either way, so a reload shows what the live log showed).

Delivery errors are stored as the sender saw them (an exception's type and text); a reader
sees what they mean instead: refused, timed out, no such host, a certificate problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from webapp import formatting
from webapp.streams.models import DeliveryAttempt, Message, Subscription
from webapp.streams.selectors import BEHIND_LIMIT, dead_letters, stream_position

#: Delivery log rows on the page and in the status.
LOG_ROWS = 50

STATES: dict[str, str] = {
    Subscription.State.ACTIVE: "deliveries flow",
    Subscription.State.PAUSED: "nothing is sent until you resume it",
    Subscription.State.DISABLED: "stopped after failed deliveries: resume it once the"
    " receiver is fixed",
}
ATTEMPT_STATUSES: dict[str, str] = {
    DeliveryAttempt.Status.DELIVERED: "delivered",
    DeliveryAttempt.Status.FAILED: "failed, will retry",
    DeliveryAttempt.Status.GAVE_UP: "gave up",
    DeliveryAttempt.Status.REFUSED: "refused: the destination is not allowed",
}
#: (pattern in a stored error, what it means); the first match wins.
_PROBLEMS = [
    (re.compile(r"timed? ?out|timeout", re.I), "The receiver did not answer in time."),
    (re.compile(r"refused", re.I), "The receiver refused the connection (nothing listens there)."),
    (
        re.compile(r"ssl|certificate|tls", re.I),
        "The secure connection failed: the receiver's certificate could not be checked.",
    ),
    (
        re.compile(r"name or service|nodename|resolve|getaddrinfo", re.I),
        "The receiver's host name does not resolve.",
    ),
    (re.compile(r"reset|aborted|broken pipe|closed", re.I), "The receiver dropped the connection."),
]
_DISABLED = re.compile(r"^(\d+) attempts failed; the last: (.*)$", re.S)
_ANSWERED = re.compile(r"^the receiver answered (\d{3})$")


def problem_words(error: str, code: int | None = None) -> str:
    """What went wrong with a delivery, for people ("" when nothing did)."""
    answered = _ANSWERED.match(error)
    if code is None and answered:
        code = int(answered.group(1))
    if code is not None and not 200 <= code < 300:
        if code == 410:
            return "The receiver answered 410 Gone: it wants no more deliveries."
        return f"The receiver answered {code}."
    if not error:
        return ""
    if error.startswith(("The URL", "The host")):  # the destination check's own words
        return error
    for pattern, words in _PROBLEMS:
        if pattern.search(error):
            return words
    return "The receiver could not be reached."


def disabled_words(reason: str) -> str:
    found = _DISABLED.match(reason)
    if found:
        attempts, last = found.groups()
        return f"{attempts} attempts failed; the last: {problem_words(last)}"
    return reason


def start_words(start: str) -> str:
    """Where the stream was asked to start ("oldest", "sequence:12", "time:<ISO>")."""
    kind, _, value = start.partition(":")
    if kind == "time" and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return f"from {value}"
        return f"from {formatting.when(moment, timezone.get_current_timezone_name())}"
    words = {"oldest": "from the oldest event", "newest": "with the next new event"}
    if kind in words:
        return words[kind]
    return f"from {kind} {value}" if value else start


def sequences(kind: str, first: int, last: int) -> str:
    if kind == "test":
        return "test event"
    what = "retractions" if kind == Message.Kind.RETRACTIONS else "events"
    return f"{what} {first}" if first == last else f"{what} {first} to {last}"


def _when(moment: Any) -> dict[str, str]:
    zone = timezone.get_current_timezone_name()
    return {"text": formatting.when(moment, zone), "iso": formatting.iso(moment)}


def attempt_row(attempt: DeliveryAttempt) -> dict[str, Any]:
    """One delivery log row: everything a reader sees, as text."""
    retry = attempt.next_attempt_at if attempt.status == DeliveryAttempt.Status.FAILED else None
    status = ATTEMPT_STATUSES.get(attempt.status, attempt.status)
    if attempt.kind == "test" and attempt.status == DeliveryAttempt.Status.FAILED:
        status = "failed"  # a test event is sent once
    return {
        "id": attempt.pk,
        "status": attempt.status,
        "status_words": status,
        "what": sequences(attempt.kind, attempt.first_sequence, attempt.last_sequence),
        "message_id": attempt.message_id,
        "attempt": attempt.attempt,
        "response_code": attempt.response_code,
        "duration_ms": attempt.duration_ms,
        "problem": problem_words(attempt.error, attempt.response_code),
        "at": _when(attempt.attempted_at),
        "next_retry": _when(retry) if retry else None,
    }


@dataclass(frozen=True)
class Standing:
    """Where a subscription stands, in words, for its page and its status."""

    state: str
    state_words: str
    disabled_reason: str
    checkpoint: int
    head: int
    position_words: str
    waiting: str  # the message held up, and when it is tried next ("" when none)
    dead_letters: int
    last: dict[str, Any] | None  # the newest delivery log row

    def json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "state_words": self.state_words,
            "disabled_reason": self.disabled_reason,
            "checkpoint": self.checkpoint,
            "head": self.head,
            "position_words": self.position_words,
            "waiting": self.waiting,
            "dead_letters": self.dead_letters,
        }


def position_words(checkpoint: int, head: int, behind: int) -> str:
    if behind == 0:
        return f"Up to date: gone through every event, to sequence {head}."
    count = f"more than {formatting.number(BEHIND_LIMIT)}" if behind > BEHIND_LIMIT else str(behind)
    noun = "event" if behind == 1 else "events"
    return (
        f"Gone through the events to sequence {checkpoint}; the newest is {head}:"
        f" {count} {noun} still to go through (those the filter does not want are skipped)."
    )


def standing(subscription: Subscription) -> Standing:
    position = stream_position(subscription=subscription)
    waiting = ""
    pending = subscription.messages.filter(status=Message.Status.PENDING).order_by("id").first()
    if pending is not None and pending.attempts:
        what = sequences(pending.kind, pending.first_sequence, pending.last_sequence)
        tries = "1 attempt" if pending.attempts == 1 else f"{pending.attempts} attempts"
        waiting = (
            f"Waiting: {what} after {tries} ({problem_words(pending.last_error)})"
            f"; next try {_when(pending.next_attempt_at)['text']}."
        )
        if subscription.state != Subscription.State.ACTIVE:
            waiting = f"Waiting: {what} after {tries}; tried again once resumed."
    newest = subscription.attempts.order_by("-id").first()
    return Standing(
        state=subscription.state,
        state_words=STATES.get(subscription.state, subscription.state),
        disabled_reason=disabled_words(subscription.disabled_reason),
        checkpoint=subscription.checkpoint,
        head=position.head,
        position_words=position_words(subscription.checkpoint, position.head, position.behind),
        waiting=waiting,
        dead_letters=dead_letters(subscription=subscription).count(),
        last=attempt_row(newest) if newest else None,
    )


def delivery_log(subscription: Subscription) -> list[dict[str, Any]]:
    return [attempt_row(a) for a in subscription.attempts.order_by("-id")[:LOG_ROWS]]


def dead_letter_rows(subscription: Subscription) -> list[dict[str, Any]]:
    return [
        {
            "pk": m.pk,
            "what": sequences(m.kind, m.first_sequence, m.last_sequence),
            "message_id": m.message_id,
            "attempts": m.attempts,
            "problem": problem_words(m.last_error),
            "created_at": m.created_at,
        }
        for m in dead_letters(subscription=subscription).order_by("id")
    ]
