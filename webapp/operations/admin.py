from django.contrib import admin

from webapp.operations.models import Operation


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("action", "status", "sender", "transaction_hash", "created_at")
    list_filter = ("status", "action")
    search_fields = ("transaction_hash", "sender")
