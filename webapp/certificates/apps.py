from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "webapp.certificates"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Certificates"
