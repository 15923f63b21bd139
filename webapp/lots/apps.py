from django.apps import AppConfig


class LotsConfig(AppConfig):
    name = "webapp.lots"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Lots, handoffs, bundles and transformations"
