from django.apps import AppConfig


class GraphqlConfig(AppConfig):
    name = "webapp.graphql"
    label = "graphql_hub"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "GraphQL hub"
