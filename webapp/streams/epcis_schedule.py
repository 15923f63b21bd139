"""The `schedule` of a scheduled EPCIS query subscription (the REST binding's
`QueryScheduleSubscription`, EPCIS 1.2 §8.2.5.3's QuerySchedule): when the query runs.

Fields `second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek` (1 = Monday .. 7 =
Sunday), each a string: a number, a range `[a-b]`, or a comma-separated list of them
(`"0,15,30,45"`, `"[1-5]"`). A time matches when every field matches (UTC). Fields finer
than the finest one given default to their lowest value and coarser ones match any value,
so `{"hour": "1", "minute": "5"}` runs once a day at 01:05:00 (the binding's example).

What is refused (`ScheduleError`): other spellings (`*`, `0/30` steps), values out of range,
unknown fields, and a schedule that never matches (`{"month": "2", "dayOfMonth": "30"}`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

#: Field, lowest, highest; finest first.
FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("dayOfMonth", 1, 31),
    ("month", 1, 12),
    ("dayOfWeek", 1, 7),
)
_ELEMENT = re.compile(r"^(?:(\d{1,2})|\[(\d{1,2})-(\d{1,2})\])$")
#: How far ahead a next run is looked for (leap days come every four years).
HORIZON_DAYS = 4 * 366 + 1

Schedule = dict[str, frozenset[int]]


class ScheduleError(ValueError):
    """A schedule this repository cannot run; the message says why."""


def _values(name: str, text: Any, low: int, high: int) -> frozenset[int]:
    if not isinstance(text, str | int) or isinstance(text, bool):
        raise ScheduleError(f'schedule.{name}: give a string such as "5", "1,2" or "[1-5]".')
    found: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        matched = _ELEMENT.match(part)
        if not matched:
            raise ScheduleError(
                f"schedule.{name}: {part!r} is not supported; give numbers, ranges [a-b]"
                " or a comma-separated list of them."
            )
        single, first, last = matched.groups()
        start, end = (int(single), int(single)) if single else (int(first), int(last))
        if not low <= start <= end <= high:
            raise ScheduleError(f"schedule.{name}: {part!r} is outside {low} to {high}.")
        found.update(range(start, end + 1))
    return frozenset(found)


def schedule_parse(given: Any) -> Schedule:
    """Every field's matching values, or `ScheduleError`."""
    if not isinstance(given, dict) or not given:
        raise ScheduleError("schedule: give an object with at least one of " + _names() + ".")
    unknown = sorted(set(given) - {name for name, _, _ in FIELDS})
    if unknown:
        raise ScheduleError(f"schedule.{unknown[0]}: no such field; the fields are {_names()}.")
    finest = min(i for i, (name, _, _) in enumerate(FIELDS) if name in given)
    schedule: Schedule = {}
    for index, (name, low, high) in enumerate(FIELDS):
        if name in given:
            schedule[name] = _values(name, given[name], low, high)
        elif index < finest and name in {"second", "minute", "hour"}:
            schedule[name] = frozenset({low})
        else:
            schedule[name] = frozenset(range(low, high + 1))
    if schedule_next(schedule, after=datetime(2000, 1, 1)) is None:
        raise ScheduleError("schedule: these fields never match a date.")
    return schedule


def _names() -> str:
    return ", ".join(name for name, _, _ in FIELDS)


def schedule_next(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first matching time strictly after `after` (whole seconds), or None."""
    start = after.replace(microsecond=0) + timedelta(seconds=1)
    day = start.replace(hour=0, minute=0, second=0)
    for offset in range(HORIZON_DAYS):
        moment = day + timedelta(days=offset)
        if (
            moment.month not in schedule["month"]
            or moment.day not in schedule["dayOfMonth"]
            or moment.isoweekday() not in schedule["dayOfWeek"]
        ):
            continue
        for hour in sorted(schedule["hour"]):
            for minute in sorted(schedule["minute"]):
                for second in sorted(schedule["second"]):
                    candidate = moment.replace(hour=hour, minute=minute, second=second)
                    if candidate >= start:
                        return candidate
    return None
