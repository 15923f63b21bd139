"""Reads that tolerate lag go to the read replica when the site has one; writes, reads in
a write's transaction, and everything outside `lag_tolerant` stay on the primary."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from webapp.db_router import ReplicaRouter, lag_tolerant, lag_tolerant_reads
from webapp.lots.models import LotMetadata

pytestmark = pytest.mark.django_db(transaction=True)  # no test transaction around it


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_lag_tolerant_reads_go_to_the_replica_and_nothing_else(settings: Any) -> None:
    router = ReplicaRouter()
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    assert router.db_for_read(LotMetadata) is None  # the primary
    with lag_tolerant_reads():
        assert router.db_for_read(LotMetadata) == "replica"
        assert router.db_for_write(LotMetadata) == "default"
        with transaction.atomic():  # a write's transaction reads what it wrote
            assert router.db_for_read(LotMetadata) is None
    assert router.db_for_read(LotMetadata) is None

    @lag_tolerant
    def report() -> str | None:
        return router.db_for_read(LotMetadata)

    assert report() == "replica"
    assert router.allow_migrate("replica", "lots") is False
    assert router.allow_migrate("default", "lots") is True


def test_without_a_replica_every_read_stays_on_the_primary(settings: Any) -> None:
    router = ReplicaRouter()
    assert "replica" not in settings.DATABASES
    with lag_tolerant_reads():
        assert router.db_for_read(LotMetadata) is None
