from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    name = "webapp.projections"
    label = "projections"
    verbose_name = "Projections of the chain"
