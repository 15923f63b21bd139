from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "webapp.streams"
    label = "streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp.monitoring.alerts import on_alert_changed
        from webapp.streams.alerts import alert_event_queue

        # A raised or cleared alert is queued for the organisation's streams inside the
        # transaction that raises or clears it.
        on_alert_changed(alert_event_queue)
