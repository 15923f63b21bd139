from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "webapp.api"
    verbose_name = "Partner REST API"
