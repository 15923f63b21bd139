from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.chain.models import Block, ChainEvent, Checkpoint, ConsumerCursor, ParkedLog
from webapp.chain.pipeline import consumer_unpark


@admin.register(ChainEvent)
class ChainEventAdmin(admin.ModelAdmin):
    list_display = ("block_number", "log_index", "contract", "event", "transaction_hash")
    list_filter = ("contract", "event")
    search_fields = ("transaction_hash", "block_hash")
    readonly_fields = [f.name for f in ChainEvent._meta.fields]


@admin.register(ParkedLog)
class ParkedLogAdmin(admin.ModelAdmin):
    list_display = ("block_number", "log_index", "address", "error", "parked_at")
    readonly_fields = [f.name for f in ParkedLog._meta.fields]


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("chain_id", "block_number", "head_number", "updated_at")


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("chain_id", "number", "hash", "timestamp")


@admin.register(ConsumerCursor)
class ConsumerCursorAdmin(admin.ModelAdmin):
    list_display = ("name", "chain_id", "event_id", "parked_at", "parked_event_id", "updated_at")
    list_filter = ("name", "chain_id")
    readonly_fields = [f.name for f in ConsumerCursor._meta.fields]
    actions = ["unpark"]

    @admin.action(description="Un-park: try again from the event that stopped it")
    def unpark(self, request: HttpRequest, queryset: QuerySet[ConsumerCursor]) -> None:
        for cursor in queryset.filter(parked_at__isnull=False):
            consumer_unpark(chain_id=cursor.chain_id, name=cursor.name)
            self.message_user(request, f"{cursor.name} on chain {cursor.chain_id} un-parked")
