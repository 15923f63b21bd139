"""The mirrored chain data in the admin: to look at, never to edit. The rows are what the
chain said; the chain is the record, so an edit here would only make the mirror lie (the
indexer rebuilds them from logs, and a reorg undoes them)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.chain.models import Block, ChainEvent, Checkpoint, ConsumerCursor, ParkedLog
from webapp.chain.pipeline import consumer_unpark


class MirroredAdmin(admin.ModelAdmin):
    """View only: no add, no change, no delete (and so no "Delete selected" action). Actions
    that call a service, such as un-parking a consumer, stay."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChainEvent)
class ChainEventAdmin(MirroredAdmin):
    list_display = ("block_number", "log_index", "contract", "event", "transaction_hash")
    list_filter = ("contract", "event")
    search_fields = ("transaction_hash", "block_hash")


@admin.register(ParkedLog)
class ParkedLogAdmin(MirroredAdmin):
    list_display = ("block_number", "log_index", "address", "error", "parked_at")


@admin.register(Checkpoint)
class CheckpointAdmin(MirroredAdmin):
    list_display = ("chain_id", "block_number", "head_number", "updated_at")


@admin.register(Block)
class BlockAdmin(MirroredAdmin):
    list_display = ("chain_id", "number", "hash", "timestamp")


@admin.register(ConsumerCursor)
class ConsumerCursorAdmin(MirroredAdmin):
    list_display = ("name", "chain_id", "event_id", "parked_at", "parked_event_id", "updated_at")
    list_filter = ("name", "chain_id")
    actions = ["unpark"]

    @admin.action(description="Un-park: try again from the event that stopped it")
    def unpark(self, request: HttpRequest, queryset: QuerySet[ConsumerCursor]) -> None:
        for cursor in queryset.filter(parked_at__isnull=False):
            consumer_unpark(chain_id=cursor.chain_id, name=cursor.name)
            self.message_user(request, f"{cursor.name} on chain {cursor.chain_id} un-parked")
