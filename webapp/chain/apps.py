from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "webapp.chain"
    label = "chain"
    verbose_name = "Chain mirror"

    def ready(self) -> None:
        from webapp.chain.indexer import on_reorg
        from webapp.chain.pipeline import consumers_rollback

        on_reorg(consumers_rollback)
