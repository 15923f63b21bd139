"""A GET request reads the small facts its page asks for several times once; writes and
code outside requests read them every time."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from webapp.edge import RequestMemo
from webapp.memo import kept_for_request, memo
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names

pytestmark = pytest.mark.django_db


def _twice(request: HttpRequest) -> HttpResponse:
    first = organisation_names()
    first["0xabc"] = "changed by the caller"  # a caller's copy: the kept map stays as read
    return HttpResponse(str(sorted(organisation_names().items())))


def _statements(method: str) -> tuple[int, str]:
    request = getattr(RequestFactory(), method)("/")
    with CaptureQueriesContext(connection) as sql:
        body = RequestMemo(_twice)(request).content.decode()
    return len(sql.captured_queries), body


def test_a_get_reads_once_and_a_write_reads_every_time() -> None:
    Organisation.objects.create(name="Mine", slug="mine", address="0x" + "11" * 20)
    read_once, body = _statements("get")
    assert read_once == 2  # the keys and the organisations, for both calls
    assert "Mine" in body
    assert "changed by the caller" not in body
    assert _statements("head")[0] == 2
    assert _statements("post")[0] == 4


def test_nothing_is_kept_outside_a_request_or_after_it() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert (memo("k", compute), memo("k", compute)) == (1, 2)
    with kept_for_request():
        assert (memo("k", compute), memo("k", compute), memo("j", compute)) == (3, 3, 4)
        with kept_for_request():  # a nested block keeps its own
            assert memo("k", compute) == 5
        assert memo("k", compute) == 3
    assert memo("k", compute) == 6
