from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "webapp.organisations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Organisations, members, keys and API tokens"
