from django.apps import AppConfig


class SustainabilityConfig(AppConfig):
    name = "webapp.sustainability"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Sustainability figures and dashboards"
