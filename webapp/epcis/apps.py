from django.apps import AppConfig


class EpcisConfig(AppConfig):
    name = "webapp.epcis"
    label = "epcis"
    default_auto_field = "django.db.models.BigAutoField"
