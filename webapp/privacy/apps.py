from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "webapp.privacy"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Personal data (encrypted per data subject, erasable)"
