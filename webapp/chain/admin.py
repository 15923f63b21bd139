from django.contrib import admin

from webapp.chain.models import Block, ChainEvent, Checkpoint, ParkedLog


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
