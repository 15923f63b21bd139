"""The dimensions: dates, organisations, lots (and lots' sealed personal fields)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from webapp.bulk import server_bound
from webapp.exports.warehouse.refresh.rows import (
    as_of_sql,
    day_key,
    ids_text,
)
from webapp.lots.selectors import KIND_NAMES
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.privacy.models import PersonalValue
from webapp.sustainability.dashboard import product_line_of


def dates_upsert(moments: Iterable[datetime | None]) -> None:
    days = sorted({m.astimezone(UTC).date() for m in moments if m is not None})
    if not days:
        return
    server_bound(
        """INSERT INTO reporting.dim_date
           SELECT to_char(d, 'YYYYMMDD')::int, d, extract(year FROM d),
                  extract(quarter FROM d), extract(month FROM d), to_char(d, 'FMMonth'),
                  extract(week FROM d), extract(isodow FROM d)
             FROM unnest(%s::date[]) d
           ON CONFLICT (date_key) DO NOTHING""",
        [days],
    )


def organisations_upsert(chain_id: int, accounts: set[str]) -> None:
    """Upsert the accounts' organisation rows (the app's names, slugs and roles; an account
    no organisation claims is named by itself)."""
    accounts = {a for a in accounts if a}
    if not accounts:
        return
    known: dict[str, tuple[str, str, int]] = {}
    for key_address, name, slug, roles in OrganisationKey.objects.values_list(
        "address", "organisation__name", "organisation__slug", "organisation__roles"
    ):
        known[key_address.lower()] = (name, slug, roles)
    for address, name, slug, roles in Organisation.objects.exclude(address="").values_list(
        "address", "name", "slug", "roles"
    ):
        known[address.lower()] = (name, slug, roles)
    ordered = sorted(accounts)
    rows = [known.get(a.lower(), (a, "", 0)) for a in ordered]
    server_bound(
        """INSERT INTO reporting.dim_organisation (chain_id, account, name, slug, roles)
           SELECT %s, a, n, s, r FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[])
                  AS t(a, n, s, r)
           ON CONFLICT (chain_id, account) DO UPDATE
              SET name = EXCLUDED.name, slug = EXCLUDED.slug, roles = EXCLUDED.roles
            WHERE (dim_organisation.name, dim_organisation.slug, dim_organisation.roles)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.slug, EXCLUDED.roles)""",
        [chain_id, ordered, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
    )


_LOTS = """
SELECT v.lot_id::text, v.kind, v.creator, v.quantity::text, v.quarantined, v.block_from,
       f.first, b.timestamp, m.document, coalesce(m.gs1_key, '')
  FROM projections_lotversion v
 CROSS JOIN LATERAL (
       SELECT min(w.block_from) AS first FROM projections_lotversion w
        WHERE w.chain_id = v.chain_id AND w.lot_id = v.lot_id) f
  LEFT JOIN chain_block b ON b.chain_id = v.chain_id AND b.number = f.first
  LEFT JOIN lots_lotmetadata m ON m.chain_id = v.chain_id AND m.lot_id = v.lot_id
 WHERE v.chain_id = %s AND v.lot_id = ANY(%s::numeric[]) AND {as_of}
"""


def _json(value: Any) -> dict[str, Any] | None:
    """A jsonb column as Django's connection hands it back (text), decoded."""
    if value is None:
        return None
    found = json.loads(value) if isinstance(value, str) else value
    return found if isinstance(found, dict) else {}


def lots_upsert(chain_id: int, lot_ids: set[int], block: int | None) -> set[str]:
    """Upsert the lots' dimension rows and sealed personal fields; returns their creators."""
    if not lot_ids:
        return set()
    found = server_bound(
        _LOTS.format(as_of=as_of_sql("v", block)), [chain_id, ids_text(sorted(lot_ids))]
    )
    if not found:
        return set()
    names = [
        "lot_id",
        "kind",
        "kind_name",
        "line",
        "name",
        "unit",
        "gs1",
        "creator",
        "registered",
        "at",
        "day",
        "quantity",
        "quarantined",
        "state",
    ]
    columns: dict[str, list[Any]] = {k: [] for k in names}
    personal: list[tuple[int, str, str, str]] = []
    times = set()
    for lot_id, kind, creator, quantity, quarantined, state, first, when, text, gs1 in found:
        document = _json(text)
        times.add(when)
        for name, value in zip(
            names,
            (
                lot_id,
                kind,
                KIND_NAMES.get(kind, "lot"),
                product_line_of(document, kind),
                str(document.get("name", "")) if document else "",
                str(document.get("unit", "")) if document else "",
                gs1,
                creator,
                first,
                when,
                day_key(when),
                quantity,
                quarantined,
                state,
            ),
            strict=True,
        ):
            columns[name].append(value)
        refs = (document.get("personal") if document else None) or {}
        for field_name, ref in sorted(refs.items()) if isinstance(refs, dict) else []:
            if isinstance(ref, dict) and ref.get("subject") and ref.get("commitment"):
                personal.append(
                    (int(lot_id), str(field_name), str(ref["subject"]), str(ref["commitment"]))
                )
    dates_upsert(times)
    organisations_upsert(chain_id, set(columns["creator"]))
    server_bound(
        """INSERT INTO reporting.dim_lot (chain_id, lot_id, kind, kind_name, product_line,
               name, unit, gs1_key, creator_key, registered_block, registered_at,
               registered_date_key, quantity, quarantined, state_block)
           SELECT %s, t.lot_id, t.kind, t.kind_name, t.line, t.name, t.unit, t.gs1,
                  o.organisation_key, t.registered, t.at, t.day, t.quantity, t.quarantined,
                  t.state
             FROM unnest(%s::numeric[], %s::smallint[], %s::text[], %s::text[], %s::text[],
                         %s::text[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[],
                         %s::int[], %s::numeric[], %s::boolean[], %s::bigint[])
                  AS t(lot_id, kind, kind_name, line, name, unit, gs1, creator, registered,
                       at, day, quantity, quarantined, state)
             JOIN reporting.dim_organisation o ON o.chain_id = %s AND o.account = t.creator
           ON CONFLICT (chain_id, lot_id) DO UPDATE
              SET kind = EXCLUDED.kind, kind_name = EXCLUDED.kind_name,
                  product_line = EXCLUDED.product_line, name = EXCLUDED.name,
                  unit = EXCLUDED.unit, gs1_key = EXCLUDED.gs1_key,
                  creator_key = EXCLUDED.creator_key,
                  registered_block = EXCLUDED.registered_block,
                  registered_at = EXCLUDED.registered_at,
                  registered_date_key = EXCLUDED.registered_date_key,
                  quantity = EXCLUDED.quantity, quarantined = EXCLUDED.quarantined,
                  state_block = EXCLUDED.state_block""",
        [chain_id, *columns.values(), chain_id],
    )
    _personal(chain_id, personal)
    return set(columns["creator"])


def _personal(chain_id: int, refs: list[tuple[int, str, str, str]]) -> None:
    """The lots' personal fields, sealed as they are in the app (ciphertext under the
    subject's data key, which forgetting the subject destroys)."""
    if not refs:
        return
    sealed = {
        (str(s), c): bytes(x)
        for s, c, x in PersonalValue.objects.filter(
            commitment__in=[r[3] for r in refs]
        ).values_list("subject_id", "commitment", "ciphertext")
    }
    server_bound(
        """INSERT INTO reporting.lot_personal (lot_key, field, subject_id, commitment,
               ciphertext)
           SELECT l.lot_key, t.field, t.subject, t.commitment, t.ciphertext
             FROM unnest(%s::numeric[], %s::text[], %s::uuid[], %s::text[], %s::bytea[])
                  AS t(lot_id, field, subject, commitment, ciphertext)
             JOIN reporting.dim_lot l ON l.chain_id = %s AND l.lot_id = t.lot_id
           ON CONFLICT (lot_key, field) DO UPDATE
              SET subject_id = EXCLUDED.subject_id, commitment = EXCLUDED.commitment,
                  ciphertext = EXCLUDED.ciphertext""",
        [
            ids_text(r[0] for r in refs),
            [r[1] for r in refs],
            [r[2] for r in refs],
            [r[3] for r in refs],
            [sealed.get((r[2], r[3])) for r in refs],
            chain_id,
        ],
    )
