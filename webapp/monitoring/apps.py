from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "webapp.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Condition monitoring of lots"

    def ready(self) -> None:
        # Rules react to every batch of readings, inside the transaction that stores it.
        from webapp.monitoring.rules import readings_react
        from webapp.monitoring.services import on_readings_recorded

        on_readings_recorded(readings_react)
