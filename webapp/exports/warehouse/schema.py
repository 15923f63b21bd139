"""The warehouse's star schema, as the PostgreSQL statements that create it.

Schema ``reporting``: dimensions (date, organisation, lot) keyed by surrogate keys, facts
(handoffs, transformation edges, certificate lifecycles, quarantine events, footprint
roll-ups per lot) that point at them, the sealed personal fields of lots, and one view a
dashboard reads (``product_line_figures``). Natural keys (chain id + the chain's ids) are
unique, so every refresh is an upsert. Times are UTC; a day is a UTC day.

PostgreSQL only: on the embedded SQLite database of a first run there is no warehouse.
"""

from __future__ import annotations

SCHEMA = "reporting"

CREATE = [
    "CREATE SCHEMA IF NOT EXISTS reporting",
    """CREATE TABLE reporting.dim_date (
        date_key integer PRIMARY KEY,
        day date NOT NULL UNIQUE,
        year smallint NOT NULL,
        quarter smallint NOT NULL,
        month smallint NOT NULL,
        month_name text NOT NULL,
        iso_week smallint NOT NULL,
        weekday smallint NOT NULL
    )""",
    """CREATE TABLE reporting.dim_organisation (
        organisation_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        account varchar(42) NOT NULL,
        name text NOT NULL,
        slug text NOT NULL,
        roles integer NOT NULL,
        UNIQUE (chain_id, account)
    )""",
    """CREATE TABLE reporting.dim_lot (
        lot_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        lot_id numeric(78, 0) NOT NULL,
        kind smallint NOT NULL,
        kind_name text NOT NULL,
        product_line text NOT NULL,
        name text NOT NULL,
        unit text NOT NULL,
        gs1_key text NOT NULL,
        creator_key bigint NOT NULL,
        registered_block bigint NOT NULL,
        registered_at timestamptz,
        registered_date_key integer,
        quantity numeric(78, 0) NOT NULL,
        quarantined boolean NOT NULL,
        state_block bigint NOT NULL,
        UNIQUE (chain_id, lot_id)
    )""",
    """CREATE TABLE reporting.lot_personal (
        lot_key bigint NOT NULL,
        field text NOT NULL,
        subject_id uuid NOT NULL,
        commitment varchar(66) NOT NULL,
        ciphertext bytea,
        PRIMARY KEY (lot_key, field)
    )""",
    """CREATE TABLE reporting.fact_handoff (
        handoff_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        handoff_id numeric(78, 0) NOT NULL,
        lot_key bigint NOT NULL,
        sender_key bigint NOT NULL,
        receiver_key bigint NOT NULL,
        quantity numeric(78, 0) NOT NULL,
        status text NOT NULL,
        reason text NOT NULL,
        initiated_block bigint NOT NULL,
        initiated_date_key integer,
        closed_block bigint,
        closed_date_key integer,
        state_block bigint NOT NULL,
        UNIQUE (chain_id, handoff_id)
    )""",
    """CREATE TABLE reporting.fact_transformation_edge (
        edge_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        transformation_id numeric(78, 0) NOT NULL,
        input_lot_key bigint NOT NULL,
        output_lot_key bigint NOT NULL,
        actor_key bigint NOT NULL,
        input_quantity numeric(78, 0) NOT NULL,
        output_quantity numeric(78, 0) NOT NULL,
        block bigint NOT NULL,
        date_key integer,
        UNIQUE (chain_id, transformation_id, input_lot_key, output_lot_key)
    )""",
    """CREATE TABLE reporting.fact_certificate (
        certificate_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        certificate_id numeric(78, 0) NOT NULL,
        subject_kind smallint NOT NULL,
        subject numeric(78, 0) NOT NULL,
        lot_key bigint,
        issuer_key bigint NOT NULL,
        certificate_type text NOT NULL,
        claims jsonb NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_until timestamptz NOT NULL,
        issued_block bigint NOT NULL,
        issued_date_key integer,
        revoked boolean NOT NULL,
        revoked_block bigint,
        revoke_reason text NOT NULL,
        state_block bigint NOT NULL,
        UNIQUE (chain_id, certificate_id)
    )""",
    """CREATE TABLE reporting.fact_quarantine (
        quarantine_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id bigint NOT NULL,
        block_hash varchar(66) NOT NULL,
        log_index integer NOT NULL,
        lot_key bigint NOT NULL,
        reporter_key bigint NOT NULL,
        action text NOT NULL,
        reason text NOT NULL,
        block bigint NOT NULL,
        date_key integer,
        UNIQUE (chain_id, block_hash, log_index)
    )""",
    """CREATE TABLE reporting.fact_lot_footprint (
        lot_key bigint PRIMARY KEY,
        chain_id bigint NOT NULL,
        as_of_block bigint NOT NULL,
        quantity numeric(78, 0) NOT NULL,
        footprint_g_per_unit numeric NOT NULL,
        footprint_complete boolean NOT NULL,
        recycled_permille numeric NOT NULL,
        certified_input_share numeric NOT NULL
    )""",
    "CREATE INDEX dim_lot_product_line ON reporting.dim_lot (product_line)",
    "CREATE INDEX dim_lot_state_block ON reporting.dim_lot (chain_id, state_block)",
    "CREATE INDEX fact_handoff_state_block ON reporting.fact_handoff (chain_id, state_block)",
    "CREATE INDEX fact_handoff_lot ON reporting.fact_handoff (lot_key)",
    "CREATE INDEX fact_certificate_state_block ON reporting.fact_certificate "
    "(chain_id, state_block)",
    "CREATE INDEX fact_edge_block ON reporting.fact_transformation_edge (chain_id, block)",
    "CREATE INDEX fact_quarantine_block ON reporting.fact_quarantine (chain_id, block)",
    "CREATE INDEX fact_footprint_block ON reporting.fact_lot_footprint (chain_id, as_of_block)",
    # What the sustainability dashboard's "per product line" table shows, for every lot
    # (the dashboard applies the reader's scope and filters on top).
    """CREATE VIEW reporting.product_line_figures AS
    SELECT l.chain_id, l.product_line,
           count(*) AS lots,
           sum(l.quantity) AS quantity,
           count(*) FILTER (WHERE NOT f.footprint_complete) AS uncertified_lots,
           sum(f.footprint_g_per_unit * l.quantity) FILTER (WHERE f.footprint_complete)
             / nullif(sum(l.quantity) FILTER (WHERE f.footprint_complete), 0)
             AS footprint_g_per_unit,
           sum(f.recycled_permille * l.quantity) / nullif(sum(l.quantity), 0)
             AS recycled_permille,
           sum(f.certified_input_share * l.quantity) / nullif(sum(l.quantity), 0)
             AS certified_input_share
      FROM reporting.dim_lot l
      JOIN reporting.fact_lot_footprint f USING (lot_key)
     WHERE l.kind <> 4
     GROUP BY l.chain_id, l.product_line""",
]

DROP = ["DROP SCHEMA IF EXISTS reporting CASCADE"]

#: Every table, for a rebuild (TRUNCATE).
TABLES = [
    "dim_date",
    "dim_organisation",
    "dim_lot",
    "lot_personal",
    "fact_handoff",
    "fact_transformation_edge",
    "fact_certificate",
    "fact_quarantine",
    "fact_lot_footprint",
]
