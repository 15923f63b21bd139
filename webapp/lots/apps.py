from django.apps import AppConfig


class LotsConfig(AppConfig):
    name = "webapp.lots"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Lots, handoffs, bundles and transformations"

    def ready(self) -> None:
        from webapp.lots.services.leftovers import operation_leftovers_discard
        from webapp.operations.services import on_operation_failed

        on_operation_failed(operation_leftovers_discard)
