from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    name = "webapp.exports.warehouse"
    label = "warehouse"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Reporting warehouse"
