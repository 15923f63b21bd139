from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "webapp.exports.search"
    label = "search"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Search index"

    def ready(self) -> None:
        from webapp.exports.search import signals

        signals.connect()
