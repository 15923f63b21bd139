from django.apps import AppConfig


class LakeConfig(AppConfig):
    name = "webapp.exports.lake"
    label = "lake"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Parquet data lake"
