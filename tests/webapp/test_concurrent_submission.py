"""Twenty operations from one organisation, submitted at once through a real Celery worker
on Redis, all land with distinct nonces."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.webapp.network import Network
from webapp.lots.services import lot_register
from webapp.operations.models import Operation

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def test_twenty_operations_at_once_land_with_distinct_nonces(
    network: Network, redis_worker: Any
) -> None:
    mine = network.orgs["mine"]
    operations = [
        lot_register(organisation=mine, name=f"Ore {i}", quantity=100 + i, unit="kg")
        for i in range(20)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = Operation.objects.filter(
            pk__in=[o.pk for o in operations], status=Operation.Status.QUEUED
        ).count()
        if not pending:
            break
        time.sleep(0.2)
    network.index()
    rows = list(Operation.objects.filter(pk__in=[o.pk for o in operations]))
    assert {r.status for r in rows} == {Operation.Status.CONFIRMED}, [
        (r.status, r.error, r.waiting_reason) for r in rows
    ]
    assert sorted(r.nonce for r in rows) == list(range(20))
    assert network.w3.eth.get_transaction_count(mine.address) == 20
