"""The schedule of a scheduled EPCIS query subscription: the spellings it takes, what it
refuses, and the next time it runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.streams.epcis_schedule import ScheduleError, schedule_next, schedule_parse

pytestmark = pytest.mark.unit

# A Wednesday.
NOON = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "after", "expected"),
    [
        # The binding's example: every day at 01:05:00 (finer fields default to 0).
        ({"hour": "1", "minute": "5"}, NOON, datetime(2026, 12, 3, 1, 5, tzinfo=UTC)),
        # Every quarter hour, from a list.
        ({"minute": "0,15,30,45"}, NOON, datetime(2026, 12, 2, 12, 15, tzinfo=UTC)),
        # Strictly after: the very time does not count again.
        ({"second": "0"}, NOON, datetime(2026, 12, 2, 12, 1, tzinfo=UTC)),
        # Ranges; weekdays only (1 = Monday): from Friday evening to Monday.
        (
            {"hour": "[8-9]", "dayOfWeek": "[1-5]"},
            datetime(2026, 12, 4, 18, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        ),
        # Month and day together: next 29 February.
        ({"month": "2", "dayOfMonth": "29"}, NOON, datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_the_first_matching_time_after(
    given: dict[str, str], after: datetime, expected: datetime
) -> None:
    assert schedule_next(schedule_parse(given), after=after) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({}, "at least one"),
        ("1", "at least one"),
        ({"minute": "*"}, "not supported"),
        ({"second": "0/30"}, "not supported"),
        ({"minute": "[5-1]"}, "outside"),
        ({"dayOfWeek": "0"}, "outside"),
        ({"month": "13"}, "outside"),
        ({"hour": True}, "give a string"),
        ({"fortnight": "1"}, "no such field"),
        ({"month": "4", "dayOfMonth": "31"}, "never"),
    ],
)
def test_what_cannot_run_is_refused_saying_why(given: object, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        schedule_parse(given)
