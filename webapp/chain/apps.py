from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "webapp.chain"
    label = "chain"
    verbose_name = "Chain mirror"
