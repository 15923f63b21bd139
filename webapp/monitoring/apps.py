from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "webapp.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Condition monitoring of lots"

    def ready(self) -> None:
        from webapp.monitoring.anchoring import device_owners_register, readings_queue
        from webapp.monitoring.devices import device_owners
        from webapp.monitoring.rules import readings_react
        from webapp.monitoring.services import on_readings_recorded

        # Every stored reading is put in line for an anchored batch, and rules react to
        # every batch of readings, inside the transaction that stores it.
        on_readings_recorded(readings_queue)
        on_readings_recorded(readings_react)
        # A device's readings are anchored by the organisation that registered it.
        device_owners_register(device_owners)
