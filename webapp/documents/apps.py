from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "webapp.documents"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Documents (hash on chain, file here)"
