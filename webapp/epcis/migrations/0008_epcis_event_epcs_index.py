"""`epcis_event_epc`: one row per (EPC, event) the `epcs` arrays hold, btree-ordered by EPC,
so that `GET /epcis/epcs` walks the distinct EPCs in order (one index probe per EPC)
instead of unnesting every event's array and sorting the lot.

Kept by triggers on `epcis_epcisevent` (statement-level, with transition tables, so a COPY
or a bulk insert costs one set-based insert), not by the ORM: no model, PostgreSQL only.
A TRUNCATE of the events truncates it too; there is no foreign key, so Django's own flush
(which truncates only the tables it knows) is not refused.
"""

from django.db import migrations

CREATE = [
    """
    CREATE TABLE IF NOT EXISTS epcis_event_epc (
        epc text NOT NULL,
        event_id bigint NOT NULL,
        PRIMARY KEY (epc, event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS epcis_event_epc_event ON epcis_event_epc (event_id)",
    """
    CREATE OR REPLACE FUNCTION epcis_event_epc_insert() RETURNS trigger AS $$
    BEGIN
        INSERT INTO epcis_event_epc (epc, event_id)
        SELECT DISTINCT e, n.id FROM new_rows n, unnest(n.epcs) AS e
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION epcis_event_epc_update() RETURNS trigger AS $$
    BEGIN
        -- Most updates (anchoring, the operation link) leave `epcs` alone: skip those rows.
        DELETE FROM epcis_event_epc x USING old_rows o JOIN new_rows n ON n.id = o.id
        WHERE x.event_id = o.id AND o.epcs IS DISTINCT FROM n.epcs;
        INSERT INTO epcis_event_epc (epc, event_id)
        SELECT DISTINCT e, n.id FROM old_rows o JOIN new_rows n ON n.id = o.id, unnest(n.epcs) AS e
        WHERE o.epcs IS DISTINCT FROM n.epcs
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION epcis_event_epc_delete() RETURNS trigger AS $$
    BEGIN
        DELETE FROM epcis_event_epc WHERE event_id IN (SELECT id FROM old_rows);
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION epcis_event_epc_truncate() RETURNS trigger AS $$
    BEGIN
        TRUNCATE epcis_event_epc;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER epcis_event_epc_insert AFTER INSERT ON epcis_epcisevent
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION epcis_event_epc_insert()
    """,
    """
    CREATE TRIGGER epcis_event_epc_update AFTER UPDATE ON epcis_epcisevent
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION epcis_event_epc_update()
    """,
    """
    CREATE TRIGGER epcis_event_epc_delete AFTER DELETE ON epcis_epcisevent
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION epcis_event_epc_delete()
    """,
    """
    CREATE TRIGGER epcis_event_epc_truncate AFTER TRUNCATE ON epcis_epcisevent
    FOR EACH STATEMENT EXECUTE FUNCTION epcis_event_epc_truncate()
    """,
    """
    INSERT INTO epcis_event_epc (epc, event_id)
    SELECT DISTINCT e, v.id FROM epcis_epcisevent v, unnest(v.epcs) AS e
    ON CONFLICT DO NOTHING
    """,
]

DROP = [
    "DROP TRIGGER IF EXISTS epcis_event_epc_truncate ON epcis_epcisevent",
    "DROP TRIGGER IF EXISTS epcis_event_epc_delete ON epcis_epcisevent",
    "DROP TRIGGER IF EXISTS epcis_event_epc_update ON epcis_epcisevent",
    "DROP TRIGGER IF EXISTS epcis_event_epc_insert ON epcis_epcisevent",
    "DROP FUNCTION IF EXISTS epcis_event_epc_truncate()",
    "DROP FUNCTION IF EXISTS epcis_event_epc_delete()",
    "DROP FUNCTION IF EXISTS epcis_event_epc_update()",
    "DROP FUNCTION IF EXISTS epcis_event_epc_insert()",
    "DROP TABLE IF EXISTS epcis_event_epc",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("epcis", "0007_capture_in_background")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
