from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "webapp.provenance"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Provenance: lineage, custody and notifications"
