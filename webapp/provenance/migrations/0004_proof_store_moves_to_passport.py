from django.db import migrations


class Migration(migrations.Migration):
    """The proof store moved to the passport app; its tables stay where they are (the
    passport's models name them), so only Django's state changes here."""

    dependencies = [
        ("provenance", "0003_stored_event_proofs_and_block_headers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="EventProof"),
                migrations.DeleteModel(name="BlockHeaderProof"),
            ],
            database_operations=[],
        ),
    ]
