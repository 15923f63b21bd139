"""The lineage graph as one edge set, parent -> child, over both ways material flows:

- a transformation consumes `parent` (input) and produces `child` (output);
- a bundle (`child`) holds `parent` (a lot packed into it) from block_from until it is
  unpacked (block_to).

Transformation edges are history and never close. Plain SQL (a UNION ALL view) that both
PostgreSQL and SQLite run; the planner pushes a trace's join condition into each branch,
where the indexes on both ends of TransformationEdge and BundleContent serve it.
"""

from django.db import migrations

CREATE = """
CREATE VIEW provenance_lineage_edge AS
SELECT chain_id, input_lot AS parent, output_lot AS child, 'transform' AS kind,
       transformation_id, input_quantity AS parent_quantity,
       output_quantity AS child_quantity, block_from, log_from,
       CAST(NULL AS bigint) AS block_to
  FROM projections_transformationedge
UNION ALL
SELECT chain_id, lot_id AS parent, bundle_id AS child, 'bundle' AS kind,
       NULL AS transformation_id, quantity AS parent_quantity,
       1 AS child_quantity, block_from, log_from, block_to
  FROM projections_bundlecontent
"""


class Migration(migrations.Migration):
    dependencies = [
        ("provenance", "0001_initial"),
        ("projections", "0002_bundlecontent_projections_chain_i_795b00_idx"),
    ]

    operations = [
        migrations.RunSQL(CREATE, "DROP VIEW provenance_lineage_edge"),
    ]
