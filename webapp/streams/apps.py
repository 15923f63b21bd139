from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "webapp.streams"
    label = "streams"
    default_auto_field = "django.db.models.BigAutoField"
