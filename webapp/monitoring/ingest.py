"""Device readings in: a batch of signed payloads checked and stored in one transaction.

Flow of `readings_ingest`: parse every payload; lock the devices the batch names (so two
ingests sharing a subscription cannot both accept the same sequence number); check each
reading in arrival order with `payload.reading_verdict`; bulk-insert the accepted ones into
the raw reading log (`DeviceReading`, the signed payload kept as evidence) and, through
`sensor_readings_record_many`, once per lot or bundle the device is attached to, all in one
INSERT (so the rules and anchoring hooks see the batch at once); then move each device's
last sequence number and its counts. A refused reading changes nothing but its device's count
for the reason.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from webapp.bulk import server_bound
from webapp.monitoring.devices import device_key
from webapp.monitoring.models import Device, DeviceReading, SensorReading
from webapp.monitoring.payload import (
    DeviceState,
    Reading,
    Refused,
    reading_parse,
    reading_verdict,
)
from webapp.monitoring.services import Measurement, sensor_readings_record_many

SIX_PLACES = Decimal("0.000001")
log = logging.getLogger(__name__)
#: The database is unavailable (not a reading's fault): the batch is not acknowledged and
#: comes again.
UNAVAILABLE = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class Incoming:
    """One payload as received, and who sent it: the organisation (its slug) and, over MQTT,
    the device the topic names (the broker let only that device publish there)."""

    raw: bytes | str | dict[str, Any]
    organisation: str
    topic_device: str | None = None


@dataclass(frozen=True)
class Outcome:
    device: str
    seq: int | None
    reason: str  # "" when accepted

    @property
    def accepted(self) -> bool:
        return not self.reason


_partitions: set[tuple[int, int]] = set()
PARTITION_LOCK = 0x50524F56_44455653  # "PROVDEVS"


def partitions_ensure(times: Sequence[datetime]) -> None:
    """Make the monthly partitions of the reading log these times fall in (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    months = {(t.astimezone(UTC).year, t.astimezone(UTC).month) for t in times} - _partitions
    if not months:
        return
    with connection.cursor() as cursor:
        # IF NOT EXISTS does not keep two ingests from racing to create one partition: the
        # lock (held to the end of the transaction) does
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
        for year, month in sorted(months):
            after = (year + month // 12, month % 12 + 1)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS monitoring_devicereading_{year:04d}{month:02d} "
                "PARTITION OF monitoring_devicereading FOR VALUES FROM "
                f"('{year:04d}-{month:02d}-01 00:00+00') TO "
                f"('{after[0]:04d}-{after[1]:02d}-01 00:00+00')"
            )
    transaction.on_commit(lambda: _partitions.update(months))


#: A raw log row: device pk, seq, time, payload, signature (hex), received at.
LogRow = tuple[int, int, datetime, str, str, datetime]


def _log_insert(rows: list[LogRow]) -> None:
    """The raw log rows, by COPY on PostgreSQL (nothing is read back from them)."""
    if connection.vendor != "postgresql":
        fields = ("device_id", "seq", "time", "payload", "signature", "received_at")
        DeviceReading.objects.bulk_create(
            [DeviceReading(**dict(zip(fields, row, strict=True))) for row in rows]
        )
        return
    columns = "device_id, seq, time, payload, signature, received_at"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {DeviceReading._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _devices_update(devices: list[Device]) -> None:
    """Write back the devices' sequence numbers and counts (one UPDATE from arrays on
    PostgreSQL: `bulk_update`'s CASE per row and column costs more than the batch's
    inserts)."""
    if connection.vendor != "postgresql":
        Device.objects.bulk_update(
            devices, ["last_seq", "accepted_count", "last_reading_at", "rejected"]
        )
        return
    server_bound(
        f"UPDATE {Device._meta.db_table} AS d SET last_seq = v.last_seq, "
        "accepted_count = v.accepted_count, last_reading_at = v.last_reading_at, "
        "rejected = v.rejected FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], "
        "%b::timestamptz[], %b::jsonb[]) AS v(id, last_seq, accepted_count, last_reading_at, "
        "rejected) WHERE d.id = v.id",
        [
            [d.pk for d in devices],
            [d.last_seq for d in devices],
            [d.accepted_count for d in devices],
            [d.last_reading_at for d in devices],
            [Jsonb(d.rejected) for d in devices],
        ],
    )


def _text(raw: bytes | str | dict[str, Any]) -> str:
    if isinstance(raw, dict):
        return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return raw.decode() if isinstance(raw, bytes) else raw


def _measurement(reading: Reading) -> Measurement:
    located = reading.lat is not None and reading.lon is not None
    return Measurement(
        time=reading.time,
        type=reading.type,
        value=reading.decimal_value,
        unit=reading.unit,
        device_id=reading.device,
        device_seq=reading.seq,
        latitude=Decimal(repr(reading.lat)).quantize(SIX_PLACES) if located else None,
        longitude=Decimal(repr(reading.lon)).quantize(SIX_PLACES) if located else None,
    )


def _locked_devices(keys: set[tuple[str, str]]) -> dict[tuple[str, str], Device]:
    if not keys:
        return {}
    match = Q()
    for organisation, device in keys:
        match |= Q(organisation__slug=organisation, device_id=device)
    rows = (
        Device.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .filter(match)
        .order_by("id")
    )
    return {(d.organisation.slug, d.device_id): d for d in rows}


def _seen(pairs: list[tuple[Device, Reading]]) -> dict[int, set[int]]:
    """Per device pk, the batch's sequence numbers at or below the device's last one that
    are already in the log (the duplicates; the others are out of order)."""
    low = Q()
    for device, reading in pairs:
        if reading.seq <= device.last_seq:
            low |= Q(device_id=device.pk, seq=reading.seq)
    seen: dict[int, set[int]] = defaultdict(set)
    if low:
        for pk, seq in DeviceReading.objects.filter(low).values_list("device_id", "seq"):
            seen[pk].add(seq)
    return seen


def _parse(incoming: Sequence[Incoming]) -> tuple[list[Reading | None], list[Outcome]]:
    parsed: list[Reading | None] = []
    outcomes: list[Outcome] = []
    for item in incoming:
        try:
            reading = reading_parse(item.raw)
        except Refused as refused:
            parsed.append(None)
            outcomes.append(
                Outcome(device=item.topic_device or "", seq=None, reason=refused.reason)
            )
            continue
        parsed.append(reading)
        if item.topic_device is not None and item.topic_device != reading.device:
            # counted against the device that sent it: the broker vouches for the topic's
            outcomes.append(Outcome(item.topic_device, reading.seq, "topic_mismatch"))
        else:
            outcomes.append(Outcome(device=reading.device, seq=reading.seq, reason=""))
    return parsed, outcomes


def readings_ingest(incoming: Sequence[Incoming], *, now: datetime | None = None) -> list[Outcome]:
    """Check and store a batch; the outcome of each payload, in order."""
    now = now or timezone.now()
    parsed, outcomes = _parse(incoming)
    keys = {(i.organisation, o.device) for i, o in zip(incoming, outcomes, strict=True) if o.device}
    with transaction.atomic():
        devices = _locked_devices(keys)
        pairs = [
            (devices[(i.organisation, r.device)], r)
            for i, r in zip(incoming, parsed, strict=True)
            if r is not None and (i.organisation, r.device) in devices
        ]
        seen = _seen(pairs)
        touched: dict[int, Device] = {}
        log: list[LogRow] = []
        measured: dict[tuple[int, ...], list[Measurement]] = defaultdict(list)
        for index, (item, reading) in enumerate(zip(incoming, parsed, strict=True)):
            outcome = outcomes[index]
            device = devices.get((item.organisation, outcome.device))
            if device is None:
                if reading is not None and not outcome.reason:
                    outcomes[index] = Outcome(outcome.device, outcome.seq, "unknown_device")
                continue
            reason = outcome.reason
            if reading is not None and not reason:
                state = DeviceState(
                    key=device_key(device.key_type, device.public_key),
                    active=device.state == Device.State.ACTIVE,
                    last_seq=device.last_seq,
                )
                reason = reading_verdict(reading, device=state, seen=seen[device.pk], now=now)
                outcomes[index] = Outcome(outcome.device, outcome.seq, reason)
            touched[device.pk] = device
            if reason:
                device.rejected[reason] = device.rejected.get(reason, 0) + 1
                continue
            assert reading is not None
            device.last_seq = reading.seq
            device.accepted_count += 1
            device.last_reading_at = max(device.last_reading_at or reading.time, reading.time)
            seen[device.pk].add(reading.seq)
            signature = reading.signature.hex()
            log.append((device.pk, reading.seq, reading.time, _text(item.raw), signature, now))
            measured[tuple(device.attached_ids)].append(_measurement(reading))
        if log:
            partitions_ensure([row[2] for row in log])
            _log_insert(log)
        if measured:
            sensor_readings_record_many(measured.items(), source=SensorReading.Source.DEVICE)
        if touched:
            _devices_update(list(touched.values()))
    return outcomes


def readings_ingest_isolated(
    incoming: Sequence[Incoming], *, now: datetime | None = None
) -> list[Outcome]:
    """`readings_ingest`, except that a batch failing for a reason of its own (a rule or
    anchoring hook raising on one reading) is split in halves until the failing readings
    are found: those are refused as "store_failed" (counted on their device, logged), the
    others stored. One bad reading never stalls the shard its organisation shares with
    others. An unavailable database still raises: the batch waits and comes again."""
    try:
        return readings_ingest(incoming, now=now)
    except UNAVAILABLE:
        raise
    except Exception:
        if len(incoming) > 1:
            half = len(incoming) // 2
            return readings_ingest_isolated(incoming[:half], now=now) + readings_ingest_isolated(
                incoming[half:], now=now
            )
        log.exception("a reading could not be stored: refused as store_failed")
        return [_store_failed(incoming[0])]


def _store_failed(item: Incoming) -> Outcome:
    (reading,), (outcome,) = _parse([item])
    device_id = outcome.device or (reading.device if reading is not None else "")
    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .filter(organisation__slug=item.organisation, device_id=device_id)
            .first()
        )
        if device is not None:
            device.rejected["store_failed"] = device.rejected.get("store_failed", 0) + 1
            device.save(update_fields=["rejected"])
    return Outcome(device_id, outcome.seq, "store_failed")
